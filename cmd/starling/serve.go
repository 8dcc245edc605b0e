package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/server"
)

// loadConfig reads the file at path, or returns the defaults when path is
// empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func flags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `file` (default: built-in defaults)")
	return fs, cfgPath
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs, cfgPath := flags("serve", stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return fmt.Errorf("%w: starling serve [-c FILE]", errUsage)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := server.NewLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		srv.Shutdown(context.Background())
		return err
	}
	log.Info("starling started", "version", version())
	<-ctx.Done()
	stop() // a second signal kills at once
	sctx, cancel := context.WithTimeout(context.Background(), cfg.C2S.CloseTimeout+5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
