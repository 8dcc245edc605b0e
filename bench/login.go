package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// errorPause is how long a worker waits after a failure before its next
// attempt, so that a refused connection does not turn into a busy loop.
const errorPause = 50 * time.Millisecond

// Login runs the login scenario: Workers goroutines that, for Duration,
// each log in (connect, STARTTLS unless Plaintext, SASL, bind), send
// initial presence, wait for the server to have handled it, and close the
// stream, cycling through the accounts. A login's latency runs from the
// connection to the server's answer after the presence; closing is not
// included. One login first checks the options (address, certificate,
// password): its failure is returned as an error, without a report.
//
// Stopping ctx stops the run early; the report covers what was done.
func Login(ctx context.Context, opt Options) (*Report, error) {
	if err := opt.check("login"); err != nil {
		return nil, err
	}
	rep := newReport("login", &opt)
	rep.Workers = opt.Workers

	// The first login checks the options.
	octx, cancel := context.WithTimeout(ctx, opt.Timeout)
	s, phase, err := opt.login(octx, 1)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: first login (%s) failed: %w", phase, err)
	}
	rep.Mechanism = s.Mechanism()
	s.CloseTimeout(opt.Timeout)

	var (
		hist   histogram
		errs   errorTable
		logins atomic.Int64
		next   atomic.Int64
		wg     sync.WaitGroup
	)
	// The meter starts before the run's timer, so that the wall time it
	// reports is never shorter than the duration.
	m := startMeter(&opt, func() Progress {
		return Progress{Scenario: "login", Duration: opt.Duration, Ops: logins.Load(), Errors: errs.n.Load()}
	})
	runCtx, stop := context.WithTimeout(ctx, opt.Duration)
	defer stop()
	for range opt.Workers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				i := int((next.Add(1)-1)%int64(opt.Count)) + 1
				// In-flight logins finish after the run's end, within
				// the timeout, unless ctx itself ends.
				octx, cancel := context.WithTimeout(ctx, opt.Timeout)
				t0 := time.Now()
				s, phase, err := opt.login(octx, i)
				d := time.Since(t0)
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted, not failed
					}
					errs.addErr(phase, err)
					pause(runCtx, errorPause)
					continue
				}
				if err := s.CloseTimeout(opt.Timeout); err != nil {
					errs.addErr("close", err)
					continue
				}
				hist.record(d)
				logins.Add(1)
			}
		})
	}
	wg.Wait()
	m.stop(rep)
	rep.Ops = logins.Load()
	rep.Latency = hist.latency()
	rep.Errors = errs.list()
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// newReport starts a report of the options.
func newReport(scenario string, o *Options) *Report {
	r := &Report{Scenario: scenario, Start: time.Now(), Addr: o.Addr, Domain: o.Domain, TLS: "STARTTLS", Duration: o.Duration}
	if o.Plaintext {
		r.TLS = "none"
	}
	return r
}

// pause waits d, or less if ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
