package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// ConnectionsPerLocalAddr is how many of Idle's connections come from one
// local address when the server is on an IPv4 loopback address: one
// address has about 28,000 ephemeral ports (Linux's default range) towards
// one server address, so connection i comes from 127.0.0.(1 + i/20000).
const ConnectionsPerLocalAddr = 20_000

const (
	// settleTime is how long after the last connection the memory
	// readings start (the server finishes its work and its allocator
	// settles); shorter when the hold is short.
	settleTime = 2 * time.Second
	// readingInterval spaces the memory readings over the hold.
	readingInterval = 500 * time.Millisecond
	// keepaliveInterval spaces the whitespace keepalives (RFC 6120
	// §4.6.1) sent during a long hold, so that the server's idle timeout
	// does not end the connections.
	keepaliveInterval = time.Minute
	// closeBudget bounds the closing of all connections at the end, past
	// the timeout of one close; what is left then is dropped.
	closeBudget = time.Minute
)

// idleConn is one of Idle's connections.
type idleConn struct {
	s  *client.Session
	up atomic.Bool // logged in, with initial presence handled
}

// idleRun is the state of one Idle run.
type idleRun struct {
	opt     *Options
	local   []net.Addr // by i / ConnectionsPerLocalAddr; nil: the system's choice
	conns   []*idleConn
	closing atomic.Bool
	drains  sync.WaitGroup
	errs    errorTable
	dropped atomic.Int64
	phase   atomic.Pointer[string]
}

// Idle runs the idle scenario: Connections connections, taking the
// accounts 1 to Count round robin (connection i, from 0, logs in as
// account i mod Count + 1 with the resource "idle-i"), Workers at a time;
// each sends initial presence and waits for the server to have handled
// it. Once every attempt has ended (the ramp), the connections are held
// for Duration, then closed. The report gives the connect rate and
// latency over the ramp, the server's CPU time per connection, and, with
// ServerPID on Linux, the server's resident memory before the first
// connection and with all up (the lowest of the readings taken every
// 500 ms after the first 2 s of the hold), so the memory per connection;
// the generator's own the same way.
//
// Connections to one account see each other's presence (RFC 6121
// §4.2.2): K connections over C accounts cost the server about K²/C
// presence stanzas, and many servers limit the sessions of one account
// (Starling: c2s.max_sessions_per_account, 32 by default). When the
// server is on an IPv4 loopback address, the connections come from
// 127.0.0.1, 127.0.0.2... (ConnectionsPerLocalAddr each). The run fails at
// once when the process may not open enough files (RLIMIT_NOFILE). The
// first connection checks the options: its failure is returned as an
// error, without a report.
//
// Stopping ctx ends the ramp or the hold early; the connections are
// still closed, and the report covers what was done.
func Idle(ctx context.Context, opt Options) (*Report, error) {
	if err := opt.check("idle"); err != nil {
		return nil, err
	}
	if err := checkOpenFiles(opt.Connections, "connections"); err != nil {
		return nil, err
	}
	run := &idleRun{opt: &opt, local: localAddrs(opt.Addr, opt.Connections), conns: make([]*idleConn, opt.Connections)}
	rep := newReport("idle", &opt)
	rep.Workers, rep.Connections, rep.Accounts = opt.Workers, opt.Connections, min(opt.Count, opt.Connections)
	rep.LocalAddrs = len(run.local)

	if opt.ServerPID != 0 {
		var err error
		if rep.ServerRSSBefore, err = processRSS(opt.ServerPID); err != nil {
			rep.ServerRSSNote = err.Error()
		}
	}
	rep.ClientRSSBefore, _ = processRSS(os.Getpid())

	var (
		hist        histogram
		established atomic.Int64
		next        atomic.Int64
		wg          sync.WaitGroup
	)
	run.setPhase("connect")
	stopProgress := progressLoop(&opt, func() Progress {
		return Progress{Scenario: "idle", Phase: *run.phase.Load(), Duration: opt.Duration, Ops: established.Load(), Errors: run.errs.n.Load()}
	})
	defer stopProgress()
	defer run.closeAll(rep)

	m := startMeter(&Options{ServerPID: opt.ServerPID}, nil)
	attempt := func(i int) (string, error) {
		t0 := time.Now()
		phase, err := run.connect(ctx, i)
		if err != nil {
			return phase, err
		}
		hist.record(time.Since(t0))
		established.Add(1)
		return "", nil
	}
	// The first connection checks the options.
	if phase, err := attempt(0); err != nil {
		m.stop(rep)
		return nil, fmt.Errorf("bench: first connection (%s) failed: %w", phase, err)
	}
	rep.Mechanism = run.conns[0].s.Mechanism()
	next.Store(1)
	for range min(opt.Workers, opt.Connections-1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= opt.Connections {
					return
				}
				if phase, err := attempt(i); err != nil && ctx.Err() == nil {
					run.errs.addErr(phase, err)
				}
			}
		})
	}
	wg.Wait()
	m.stop(rep)
	rep.Ops = established.Load()
	rep.Latency = hist.latency()

	if ctx.Err() == nil {
		run.setPhase("hold")
		run.hold(ctx, rep)
	}
	rep.Interrupted = ctx.Err() != nil
	run.setPhase("close")
	run.closeAll(rep)
	rep.Dropped = run.dropped.Load()
	rep.Errors = run.errs.list()
	return rep, nil
}

func (r *idleRun) setPhase(p string) { r.phase.Store(&p) }

// localAddrs returns the local addresses of n connections to addr: one
// per ConnectionsPerLocalAddr connections when addr is on an IPv4
// loopback address (nil for the first: the system's choice, 127.0.0.1),
// else just the system's choice.
func localAddrs(addr string, n int) []net.Addr {
	l := []net.Addr{nil}
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return l
	}
	for b := 1; b*ConnectionsPerLocalAddr < n; b++ {
		l = append(l, &net.TCPAddr{IP: net.IPv4(127, byte(b>>16), byte(b>>8), byte(b+1))})
	}
	return l
}

// connect opens connection i: log in, start reading, initial presence,
// and a ping whose answer says the server has handled the presence.
func (r *idleRun) connect(ctx context.Context, i int) (string, error) {
	o := r.opt
	cfg := o.clientConfig(i%o.Count + 1)
	j, err := jid.New(cfg.JID.Local(), cfg.JID.Domain(), "idle-"+strconv.Itoa(i))
	if err != nil {
		return "login", err
	}
	cfg.JID = j
	cfg.LocalAddr = r.local[min(i/ConnectionsPerLocalAddr, len(r.local)-1)]
	octx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s, err := client.Dial(octx, cfg)
	if err != nil {
		return "login", err
	}
	c := &idleConn{s: s}
	// Read from the start: the presence of the account's other
	// connections arrives right after ours, and an unread session
	// stops reading (and answering) altogether.
	r.drains.Go(func() { r.drain(c) })
	if err := s.Send(stanza.New("", "presence")); err != nil {
		s.Abort()
		return "presence", err
	}
	if err := s.Ping(octx, jid.JID{}); err != nil {
		s.Abort()
		return "presence", err
	}
	c.up.Store(true)
	r.conns[i] = c
	return "", nil
}

// drain reads a connection until it ends, answering the server's IQs
// (client.Session.Serve); an end before the closing is a drop.
func (r *idleRun) drain(c *idleConn) {
	err := c.s.Serve(context.Background())
	if !c.up.Load() || r.closing.Load() {
		return
	}
	r.dropped.Add(1)
	if err == nil {
		err = io.EOF
	}
	r.errs.addErr("hold", err)
}

// hold keeps the connections for Duration, reading the memory of the
// server and of the generator every readingInterval after settling.
func (r *idleRun) hold(ctx context.Context, rep *Report) {
	o := r.opt
	start := time.Now()
	var cpu0 time.Duration
	cpuErr := error(nil)
	if o.ServerPID != 0 {
		cpu0, cpuErr = processCPU(o.ServerPID)
	}
	settle := min(settleTime, o.Duration/2)
	var serverMin, selfMin int64
	read := func() {
		if o.ServerPID != 0 && rep.ServerRSSNote == "" {
			if v, err := processRSS(o.ServerPID); err != nil {
				rep.ServerRSSNote = err.Error()
			} else if serverMin == 0 || v < serverMin {
				serverMin = v
			}
		}
		if v, err := processRSS(os.Getpid()); err == nil && (selfMin == 0 || v < selfMin) {
			selfMin = v
		}
	}
	end := time.NewTimer(o.Duration)
	defer end.Stop()
	tick := time.NewTicker(readingInterval)
	defer tick.Stop()
	lastKeepalive := start
hold:
	for {
		select {
		case <-end.C:
			break hold
		case <-ctx.Done():
			break hold
		case now := <-tick.C:
			if now.Sub(start) >= settle {
				read()
			}
			if now.Sub(lastKeepalive) >= keepaliveInterval {
				lastKeepalive = now
				r.keepalive(ctx)
			}
		}
	}
	if serverMin == 0 && selfMin == 0 {
		read()
	}
	rep.Hold = time.Since(start)
	rep.ServerRSSAfter, rep.ClientRSSAfter = serverMin, selfMin
	if rep.ServerRSSBefore == 0 {
		rep.ServerRSSAfter = 0
	}
	if o.ServerPID != 0 && cpuErr == nil {
		if cpu1, err := processCPU(o.ServerPID); err == nil {
			d := cpu1 - cpu0
			rep.HoldServerCPU = &d
		}
	}
}

// keepalive sends a space on every connection (RFC 6120 §4.6.1).
func (r *idleRun) keepalive(ctx context.Context) {
	for _, c := range r.conns {
		if ctx.Err() != nil {
			return
		}
		if c != nil && c.up.Load() {
			c.s.SendRaw([]byte(" "))
		}
	}
}

// closeAll closes the connections (once), Workers at a time, within
// closeBudget.
func (r *idleRun) closeAll(rep *Report) {
	if r.closing.Swap(true) {
		return
	}
	start := time.Now()
	var sessions []*client.Session
	for _, c := range r.conns {
		if c != nil {
			sessions = append(sessions, c.s)
		}
	}
	rep.Aborted = closeBounded(sessions, r.opt.Workers, r.opt.Timeout, closeBudget)
	r.drains.Wait()
	rep.CloseTime = time.Since(start)
}

// closeBounded closes the sessions, workers at a time, each within
// timeout; once budget has passed, the rest are dropped without the
// closing handshake. It returns how many were.
func closeBounded(sessions []*client.Session, workers int, timeout, budget time.Duration) int64 {
	deadline := time.Now().Add(budget)
	var (
		next    atomic.Int64
		aborted atomic.Int64
		wg      sync.WaitGroup
	)
	for range min(workers, len(sessions)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(sessions) {
					return
				}
				s := sessions[i]
				if s == nil {
					continue
				}
				left := time.Until(deadline)
				if left <= 0 {
					s.Abort()
					aborted.Add(1)
					continue
				}
				s.CloseTimeout(min(timeout, left))
			}
		})
	}
	wg.Wait()
	return aborted.Load()
}
