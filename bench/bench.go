// Package bench measures an XMPP server from outside, as many clients
// would load it, with Starling's own client (package client). Four
// scenarios:
//
//   - Login: workers that each, in a loop, connect, negotiate STARTTLS
//     (RFC 6120 §5, unless plaintext), authenticate (SASL, §6), bind a
//     resource (§7), send initial presence (RFC 6121 §4.2) and close the
//     stream (§4.4). It reports logins per second and the handshake's
//     latency.
//   - Messages: pairs of logged-in accounts; each sender keeps at most a
//     window of messages in flight to its partner (a message is in flight
//     from its sending until the partner has it). It reports delivered
//     messages per second, the end-to-end latency and any loss.
//   - Idle: many connections logged in with initial presence, held for a
//     while, then closed. It reports the connect rate and latency and,
//     given the server's process id, the server's resident memory per
//     connection.
//   - Presence: accounts in a ring of mutual subscriptions (set up over
//     the protocol first, once) all log in; it reports presence stanzas
//     delivered per second and the time until every account has seen all
//     its contacts online.
//
// All measure the generator's own CPU time next to the wall time (when
// the generator uses all its cores, the numbers describe the generator,
// not the server) and, given the server's process id on Linux, the
// server's CPU time per login, message, connection or presence.
//
// Every run is bounded: the duration, the number of workers, pairs,
// window, connections and contacts, and the time each operation may
// take. The accounts are throwaway ones, named by a pattern ("user%d"
// gives user1, user2...), sharing one password; create them first
// (`starling user add`).
//
// `starling bench` prints the Report.
package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// Bounds of Options: a run never asks for more than this.
const (
	MaxWorkers  = 1000
	MaxPairs    = 500
	MaxWindow   = 1000
	MaxDuration = time.Hour
	MaxTimeout  = 5 * time.Minute
	MaxCount    = 10_000_000
	// MaxConnections bounds Idle's connections. One process rarely
	// may open that many files: Idle checks RLIMIT_NOFILE first.
	MaxConnections = 200_000
	// MaxPresenceCount bounds Presence's accounts, MaxContacts their
	// contacts.
	MaxPresenceCount = 100_000
	MaxContacts      = 1000
)

// Defaults of Options.
const (
	DefaultWorkers  = 4
	DefaultPairs    = 4
	DefaultWindow   = 16
	DefaultDuration = 10 * time.Second
	DefaultTimeout  = 10 * time.Second
	DefaultUsers    = "user%d"
	// Idle and Presence log many sessions in: more at once by default.
	DefaultConnectWorkers = 50
	DefaultConnections    = 1000
	DefaultPresenceCount  = 100
	DefaultContacts       = 10
	// DefaultPresenceTimeout bounds Presence's measured phase.
	DefaultPresenceTimeout = 60 * time.Second
)

// Options say whom to load and how hard. The zero values of the numeric
// fields take the defaults above.
type Options struct {
	// Addr is the server's host:port; empty looks the domain up (SRV
	// records, else port 5222), as client.Dial does.
	Addr string
	// Domain is the accounts' domain.
	Domain string
	// Users is the pattern of the account names, with one %d that
	// takes the numbers 1 to Count.
	Users string
	// Count is how many accounts exist; zero means Workers for Login,
	// 2×Pairs for Messages (the fewest they need), Connections for Idle
	// and DefaultPresenceCount for Presence (which uses exactly Count
	// accounts, at most MaxPresenceCount).
	Count int
	// Password is every account's password.
	Password string
	// TLS verifies the server's certificate (nil: the system roots for
	// Domain); ignored with Plaintext.
	TLS *tls.Config
	// Plaintext logs in without TLS (the server must allow it).
	Plaintext bool
	// Mechanism forces a SASL mechanism ("SCRAM-SHA-256", "PLAIN"...);
	// empty takes the strongest both sides support.
	Mechanism string
	// Workers is the number of concurrent logins (Login; Idle and
	// Presence while connecting, default DefaultConnectWorkers).
	Workers int
	// Pairs is the number of sender–receiver pairs (Messages).
	Pairs int
	// Window is how many messages each sender may have in flight
	// (Messages).
	Window int
	// Connections is how many connections Idle holds (default
	// DefaultConnections, at most MaxConnections); they take the
	// accounts round robin, each with its own resource.
	Connections int
	// Contacts is the number of contacts of each account (Presence;
	// default DefaultContacts, at most MaxContacts and Count−1; odd
	// only with an even Count). See Presence for who they are.
	Contacts int
	// SetupOnly makes Presence stop after setting up the rosters.
	SetupOnly bool
	// Duration is how long work is started (Login, Messages); what is
	// in flight at the end is then completed (each operation within
	// Timeout). For Idle it is how long the connections are held once
	// all are up. Presence does not use it.
	Duration time.Duration
	// Timeout bounds each login and, for Messages, the wait for the
	// messages in flight at the end. For Presence it bounds the whole
	// measured phase (default DefaultPresenceTimeout), and each login
	// and request while setting up.
	Timeout time.Duration
	// ServerPID, when not zero, is the server's process id: its CPU time
	// is read from /proc (Linux only) before and after the run.
	ServerPID int
	// Progress, when not nil, is called about twice a second during the
	// run (from another goroutine; it must return quickly).
	Progress func(Progress)
}

// Progress is what a run has done so far.
type Progress struct {
	Scenario string
	// Phase names the part of an Idle or Presence run: "setup",
	// "connect", "hold", "online", "close"; empty for the others.
	Phase    string
	Elapsed  time.Duration
	Duration time.Duration
	// Ops counts completed logins, delivered messages, established
	// connections (Idle) or received presence stanzas (Presence; during
	// setup, accounts checked).
	Ops    int64
	Errors int64
}

// check validates o and fills in the defaults; need is how many accounts
// the scenario needs at least.
func (o *Options) check(scenario string) error {
	if o.Domain == "" {
		return errors.New("bench: no domain")
	}
	if d, err := jid.Parse(o.Domain); err != nil || d.Local() != "" || d.Resource() != "" {
		return fmt.Errorf("bench: %q is not a domain", o.Domain)
	}
	if o.Users == "" {
		o.Users = DefaultUsers
	}
	if strings.Count(o.Users, "%") != 1 || !strings.Contains(o.Users, "%d") {
		return fmt.Errorf("bench: the user pattern %q must hold exactly one %%d", o.Users)
	}
	if o.Password == "" {
		return errors.New("bench: no password")
	}
	set := func(v *int, def, limit int, name string) error {
		if *v == 0 {
			*v = def
		}
		if *v < 1 || *v > limit {
			return fmt.Errorf("bench: %s must be between 1 and %d", name, limit)
		}
		return nil
	}
	need := 0
	countMax := MaxCount
	switch scenario {
	case "login":
		if err := set(&o.Workers, DefaultWorkers, MaxWorkers, "workers"); err != nil {
			return err
		}
		need = 1
		if o.Count == 0 {
			o.Count = o.Workers
		}
	case "messages":
		if err := set(&o.Pairs, DefaultPairs, MaxPairs, "pairs"); err != nil {
			return err
		}
		if err := set(&o.Window, DefaultWindow, MaxWindow, "window"); err != nil {
			return err
		}
		need = 2 * o.Pairs
		if o.Count == 0 {
			o.Count = need
		}
	case "idle":
		if err := set(&o.Workers, DefaultConnectWorkers, MaxWorkers, "workers"); err != nil {
			return err
		}
		if err := set(&o.Connections, DefaultConnections, MaxConnections, "connections"); err != nil {
			return err
		}
		need = 1
		if o.Count == 0 {
			o.Count = o.Connections
		}
	case "presence":
		if err := set(&o.Workers, DefaultConnectWorkers, MaxWorkers, "workers"); err != nil {
			return err
		}
		if err := set(&o.Contacts, DefaultContacts, MaxContacts, "contacts"); err != nil {
			return err
		}
		if o.Count == 0 {
			o.Count = DefaultPresenceCount
		}
		need, countMax = o.Contacts+1, MaxPresenceCount
		if o.Count >= need && o.Contacts%2 == 1 && o.Count%2 == 1 {
			return fmt.Errorf("bench: an odd number of contacts (%d) needs an even count of accounts, not %d", o.Contacts, o.Count)
		}
		if o.Timeout == 0 {
			o.Timeout = DefaultPresenceTimeout
		}
	}
	if o.Count < need || o.Count > countMax {
		return fmt.Errorf("bench: count must be between %d and %d for %s", need, countMax, scenario)
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Duration < 0 || o.Duration > MaxDuration {
		return fmt.Errorf("bench: the duration must be positive and at most %v", MaxDuration)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 0 || o.Timeout > MaxTimeout {
		return fmt.Errorf("bench: the timeout must be positive and at most %v", MaxTimeout)
	}
	for _, i := range []int{1, o.Count} {
		if _, err := o.account(i); err != nil {
			return err
		}
	}
	return nil
}

// account returns the address of account number i (1 to Count).
func (o *Options) account(i int) (jid.JID, error) {
	j, err := jid.Parse(fmt.Sprintf(o.Users, i) + "@" + o.Domain)
	if err != nil || j.Local() == "" || j.Resource() != "" {
		return jid.JID{}, fmt.Errorf("bench: the user pattern %q gives %q, not an account", o.Users, fmt.Sprintf(o.Users, i))
	}
	return j, nil
}

// clientConfig returns the configuration to log in as account i.
func (o *Options) clientConfig(i int) client.Config {
	j, _ := o.account(i) // checked for the first and last; the rest are alike
	cfg := client.Config{
		JID:       j,
		Password:  o.Password,
		Addr:      o.Addr,
		Plaintext: o.Plaintext,
		Mechanism: o.Mechanism,
		Timeout:   o.Timeout,
	}
	if o.Plaintext {
		// Plaintext is only for test servers: PLAIN is then allowed
		// (it is still not chosen unless forced or alone).
		cfg.AllowPLAIN = true
	} else {
		cfg.TLS = o.TLS
	}
	return cfg
}

// login connects and logs in as account i, sends initial presence, and
// waits until the server has handled it (a ping's answer: the server
// handles a stream's stanzas in order).
func (o *Options) login(ctx context.Context, i int) (*client.Session, string, error) {
	s, err := client.Dial(ctx, o.clientConfig(i))
	if err != nil {
		return nil, "login", err
	}
	if err := s.Send(stanza.New("", "presence")); err != nil {
		s.Abort()
		return nil, "presence", err
	}
	if err := s.Ping(ctx, jid.JID{}); err != nil {
		s.Abort()
		return nil, "presence", err
	}
	return s, "", nil
}

// errorKind names the kind of a failure, for the report's error table:
// the phase, then what went wrong ("login: auth not-authorized", "login:
// timeout", "close: connection closed").
func errorKind(phase string, err error) string {
	var ae *client.AuthError
	var se *stanza.StreamError
	var pe *stanza.Error
	var ne net.Error
	var oe *net.OpError
	kind := "other"
	switch {
	case errors.As(err, &ae):
		kind = "auth " + ae.Condition
	case errors.As(err, &se):
		kind = "stream error " + string(se.Condition)
	case errors.As(err, &pe):
		kind = "stanza error " + string(pe.Condition)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		kind = "timeout"
	case errors.As(err, &oe) && oe.Op == "dial":
		kind = "connect"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed), errors.Is(err, client.ErrNoReply), errors.Is(err, client.ErrClosed):
		kind = "connection closed"
	case strings.Contains(err.Error(), "TLS"):
		kind = "tls"
	}
	return phase + ": " + kind
}

// errorTable counts failures by kind, keeping the first message of each.
type errorTable struct {
	mu    sync.Mutex
	kinds map[string]*ErrorCount
	n     atomic.Int64
}

func (t *errorTable) add(kind, example string) {
	t.n.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.kinds == nil {
		t.kinds = map[string]*ErrorCount{}
	}
	e := t.kinds[kind]
	if e == nil {
		e = &ErrorCount{Kind: kind, Example: example}
		t.kinds[kind] = e
	}
	e.Count++
}

func (t *errorTable) addErr(phase string, err error) { t.add(errorKind(phase, err), err.Error()) }

// list returns the kinds, most frequent first.
func (t *errorTable) list() []ErrorCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	var l []ErrorCount
	for _, e := range t.kinds {
		l = append(l, *e)
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].Count != l[j].Count {
			return l[i].Count > l[j].Count
		}
		return l[i].Kind < l[j].Kind
	})
	return l
}

// meter measures the CPU time of the generator and of the server over the
// measured part of a run.
type meter struct {
	start        time.Time
	self0        time.Duration
	selfOK       bool
	server0      time.Duration
	serverErr    error
	serverPID    int
	stopProgress func()
}

// startMeter starts measuring, and calls progress (if any) every 500 ms
// with what snapshot returns until stop.
func startMeter(o *Options, snapshot func() Progress) *meter {
	m := &meter{serverPID: o.ServerPID}
	if m.serverPID != 0 {
		m.server0, m.serverErr = processCPU(m.serverPID)
	}
	m.self0, m.selfOK = selfCPU()
	m.start = time.Now()
	m.stopProgress = progressLoop(o, snapshot)
	return m
}

// progressLoop calls opt.Progress (if any) every 500 ms with what snapshot
// returns, until the returned function is called.
func progressLoop(opt *Options, snapshot func() Progress) (stop func()) {
	if opt.Progress == nil {
		return func() {}
	}
	start := time.Now()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p := snapshot()
				p.Elapsed = time.Since(start)
				opt.Progress(p)
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// stop ends the measurement and fills in the report's times.
func (m *meter) stop(r *Report) {
	r.Wall = time.Since(m.start)
	if self, ok := selfCPU(); ok && m.selfOK {
		r.ClientCPU = self - m.self0
	}
	r.GOMAXPROCS = runtime.GOMAXPROCS(0)
	if m.serverPID != 0 {
		if m.serverErr == nil {
			var after time.Duration
			if after, m.serverErr = processCPU(m.serverPID); m.serverErr == nil {
				cpu := after - m.server0
				r.ServerCPU = &cpu
			}
		}
		if m.serverErr != nil {
			r.ServerCPUNote = m.serverErr.Error()
		}
	}
	m.stopProgress()
}
