package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/starling-xmpp/starling/stanza"
)

// ManagedOptions configures a Managed connection.
type ManagedOptions struct {
	// MinBackoff and MaxBackoff bound the pause before reconnecting; it
	// doubles per failed attempt and is randomised (RFC 6120 §3.3: so
	// that many clients dropped at once do not all come back at once).
	// Defaults: 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// OnConnect runs on every new session before initial presence:
	// register handlers (Session.OnRosterPush among them) and fetch the
	// roster (Session.Roster), the order Session.Online follows (seed
	// 11-2). An error ends the session and counts as a failed attempt.
	OnConnect func(ctx context.Context, s *Session) error
	// Presence is sent after OnConnect on every new session (initial
	// presence, seed 13-1); nil sends none.
	Presence *stanza.Element
	// OnDisconnect is told why each session ended.
	OnDisconnect func(err error)
}

// Managed keeps a session up (seed 3.1-3): after an unexpected drop it
// dials again, looking the server up again, with randomised exponential
// back-off, and re-runs OnConnect and initial presence. Stanzas no handler
// takes are served as Serve does. A failed login (a wrong password) is not
// retried.
type Managed struct {
	cfg  Config
	opts ManagedOptions

	mu         sync.Mutex
	sess       *Session
	closed     bool
	reconnects int
	err        error // why it stopped, when it did
	cancel     context.CancelFunc
	done       chan struct{}
}

// ErrNotConnected: the managed connection is between sessions.
var ErrNotConnected = errors.New("client: not connected (reconnecting)")

// Connect dials the first session (failing as Dial does) and then keeps
// the connection up in the background until Close.
func Connect(ctx context.Context, cfg Config, opts ManagedOptions) (*Managed, error) {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Minute, opts.MinBackoff)
	}
	m := &Managed{cfg: cfg, opts: opts, done: make(chan struct{})}
	s, err := m.start(ctx)
	if err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	m.sess, m.cancel = s, cancel
	go m.run(bg, s)
	return m, nil
}

// start dials and prepares one session.
func (m *Managed) start(ctx context.Context) (*Session, error) {
	s, err := Dial(ctx, m.cfg)
	if err != nil {
		return nil, err
	}
	if m.opts.OnConnect != nil {
		if err := m.opts.OnConnect(ctx, s); err != nil {
			s.Abort()
			return nil, err
		}
	}
	if m.opts.Presence != nil {
		if err := s.Send(m.opts.Presence.Copy()); err != nil {
			s.Abort()
			return nil, err
		}
	}
	return s, nil
}

// run serves the current session and replaces it when it ends.
func (m *Managed) run(ctx context.Context, s *Session) {
	defer close(m.done)
	for {
		err := s.Serve(ctx)
		if err == nil {
			err = errors.New("client: the server closed the stream")
		}
		m.mu.Lock()
		m.sess = nil
		closed := m.closed
		m.mu.Unlock()
		if closed || ctx.Err() != nil {
			return
		}
		if m.opts.OnDisconnect != nil {
			m.opts.OnDisconnect(err)
		}
		s.Abort()
		next, err := m.redial(ctx)
		if err != nil {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			return
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			next.Close()
			return
		}
		m.sess = next
		m.reconnects++
		m.mu.Unlock()
		s = next
	}
}

// redial tries until a session is up, ctx ends, or the login is refused.
func (m *Managed) redial(ctx context.Context) (*Session, error) {
	delay := m.opts.MinBackoff
	for {
		// Randomised in [delay/2, delay].
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		dctx, cancel := context.WithTimeout(ctx, max(m.cfg.Timeout, 30*time.Second))
		s, err := m.start(dctx)
		cancel()
		if err == nil {
			return s, nil
		}
		var ae *AuthError
		if errors.As(err, &ae) {
			return nil, err
		}
		if m.opts.OnDisconnect != nil {
			m.opts.OnDisconnect(err)
		}
		delay = min(2*delay, m.opts.MaxBackoff)
	}
}

// Session returns the current session, nil while reconnecting.
func (m *Managed) Session() *Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sess
}

// Send sends on the current session.
func (m *Managed) Send(el *stanza.Element) error {
	s := m.Session()
	if s == nil {
		return ErrNotConnected
	}
	return s.Send(el)
}

// Reconnects counts the sessions that replaced a dropped one.
func (m *Managed) Reconnects() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reconnects
}

// Err says why the connection stopped trying (a refused login), or nil.
func (m *Managed) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close ends the current session cleanly and stops reconnecting.
func (m *Managed) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	s := m.sess
	m.mu.Unlock()
	var err error
	if s != nil {
		err = s.Close()
	}
	m.cancel()
	<-m.done
	return err
}
