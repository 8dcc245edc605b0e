package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

const (
	// setupPasses bounds Presence's setup: each pass logs in the
	// accounts whose roster is still incomplete. Two suffice even
	// without pre-approval (a request to an offline account waits for
	// its next login); the third is a margin.
	setupPasses = 3
	// setupQuiet: once every account of a batch has sent its
	// subscription stanzas, the batch is done when no roster push has
	// arrived for this long (or after Timeout).
	setupQuiet = time.Second
	// maxSetupBatch bounds the accounts logged in at once while setting
	// up (fewer when the open-file limit is lower).
	maxSetupBatch = 10_000
)

// Ring returns the account numbers (1 to n) of the contacts of account a
// in Presence's ring of n accounts with r contacts each: the r/2 accounts
// on either side of a (a±1, a±2...) and, when r is odd, the account
// opposite (a + n/2, which needs an even n). Being a contact is mutual,
// so every account has exactly r contacts (for r < n).
func Ring(a, n, r int) []int {
	i := a - 1
	var c []int
	for k := 1; k <= r/2; k++ {
		c = append(c, (i+k)%n+1, (i-k+n)%n+1)
	}
	if r%2 == 1 {
		c = append(c, (i+n/2)%n+1)
	}
	return c
}

// presenceRun is the state of one Presence run.
type presenceRun struct {
	opt   *Options
	jids  []jid.JID // by account number; [0] unused
	errs  errorTable
	phase atomic.Pointer[string]
	ops   atomic.Int64 // accounts checked (setup), presence received (phase)
	// mechanism is the SASL mechanism of the first login.
	mechanism atomic.Pointer[string]
}

func (r *presenceRun) setPhase(p string) { r.phase.Store(&p) }

// want returns the bare JIDs of account a's contacts.
func (r *presenceRun) want(a int) map[string]bool {
	w := map[string]bool{}
	for _, c := range Ring(a, r.opt.Count, r.opt.Contacts) {
		w[r.jids[c].String()] = true
	}
	return w
}

// complete: the roster holds exactly the contacts, each at "both".
func complete(ro client.Roster, want map[string]bool) bool {
	if len(ro.Items) != len(want) {
		return false
	}
	for _, it := range ro.Items {
		if !want[it.JID.String()] || it.Subscription != "both" {
			return false
		}
	}
	return true
}

// Presence runs the presence scenario over accounts 1 to Count, each
// with Contacts contacts (see Ring) with mutual subscriptions.
//
// The setup comes first, over the protocol (RFC 6121 §3), so that it
// works against any server: every account logs in (Workers at a time),
// fetches its roster and, if it is not exactly its contacts at "both",
// removes the others, subscribes to the contacts it does not see, and
// approves (or pre-approves, §3.4) those that do not see it, answering
// the requests that reach it meanwhile; the accounts of a batch stay
// logged in until the roster pushes stop. Accounts whose roster is
// complete are closed at once, so a second run only checks. The setup
// fails with an error when rosters are still incomplete after a few
// passes. With SetupOnly the run ends there.
//
// The measured phase: all accounts log in (Workers at a time), fetch the
// roster and send initial presence; each counts the available presence
// from its contacts. It ends when every account has seen all its
// contacts available, or after Timeout; an account that has not is a
// failure. The report gives the presence stanzas received per second of
// the phase, the time until all were online, the login latency (to the
// roster) and the server's CPU time per presence stanza. Then all close.
//
// The measured phase holds Count connections: the run fails at once when
// the process may not open that many files (RLIMIT_NOFILE).
//
// Stopping ctx stops the run early; the report covers what was done.
func Presence(ctx context.Context, opt Options) (*Report, error) {
	if err := opt.check("presence"); err != nil {
		return nil, err
	}
	if !opt.SetupOnly {
		if err := checkOpenFiles(opt.Count, "accounts logged in at once"); err != nil {
			return nil, err
		}
	}
	r := &presenceRun{opt: &opt, jids: make([]jid.JID, opt.Count+1)}
	for a := 1; a <= opt.Count; a++ {
		j, err := opt.account(a)
		if err != nil {
			return nil, err
		}
		r.jids[a] = j
	}
	rep := newReport("presence", &opt)
	rep.Duration = opt.Timeout
	rep.Workers, rep.Accounts, rep.Contacts, rep.SetupOnly = opt.Workers, opt.Count, opt.Contacts, opt.SetupOnly

	r.setPhase("setup")
	stopProgress := progressLoop(&opt, func() Progress {
		return Progress{Scenario: "presence", Phase: *r.phase.Load(), Duration: opt.Timeout, Ops: r.ops.Load(), Errors: r.errs.n.Load()}
	})
	defer stopProgress()

	start := time.Now()
	skipped, passes, err := r.setup(ctx)
	rep.SetupTime, rep.SetupSkipped, rep.SetupPasses = time.Since(start), skipped, passes
	if m := r.mechanism.Load(); m != nil {
		rep.Mechanism = *m
	}
	if err != nil {
		return nil, err
	}
	if opt.SetupOnly || ctx.Err() != nil {
		rep.Interrupted = ctx.Err() != nil
		rep.Errors = r.errs.list()
		return rep, nil
	}
	r.ops.Store(0)
	r.setPhase("online")
	r.measure(ctx, rep)
	rep.Errors = r.errs.list()
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// setup makes every roster complete, in passes over the accounts still
// incomplete, each in batches that fit under the open-file limit. It
// returns the accounts found complete at once and the passes made.
func (r *presenceRun) setup(ctx context.Context) (skipped, passes int, err error) {
	o := r.opt
	todo := make([]int, o.Count)
	for i := range todo {
		todo[i] = i + 1
	}
	batch := min(filesBudget(o.Count), maxSetupBatch)
	for passes < setupPasses && len(todo) > 0 && ctx.Err() == nil {
		var still []int
		for from := 0; from < len(todo) && ctx.Err() == nil; from += batch {
			inc, sk, err := r.setupBatch(ctx, todo[from:min(from+batch, len(todo))], passes == 0)
			if err != nil {
				return skipped, passes + 1, err
			}
			skipped += sk
			still = append(still, inc...)
		}
		passes++
		todo = still
	}
	if ctx.Err() != nil {
		return skipped, passes, nil // interrupted: the report says so
	}
	if len(todo) > 0 {
		return skipped, passes, fmt.Errorf("bench: setup: %d rosters still lack their contacts after %d passes (%s first)", len(todo), passes, r.jids[todo[0]])
	}
	return skipped, passes, nil
}

// setupBatch logs accounts in, Workers at a time, and sends what their
// rosters need; it returns those still incomplete at the end, and how
// many were complete at once (when counting).
func (r *presenceRun) setupBatch(ctx context.Context, accounts []int, counting bool) (incomplete []int, skipped int, err error) {
	o := r.opt
	var (
		kept     = make([]*client.Session, len(accounts))
		lastPush atomic.Int64
		nSkipped atomic.Int64
		next     atomic.Int64
		failures errorTable
		drains   sync.WaitGroup
		wg       sync.WaitGroup
	)
	defer func() {
		closeBounded(kept, o.Workers, min(o.Timeout, DefaultTimeout), closeBudget)
		drains.Wait()
	}()
	touch := func() { lastPush.Store(time.Now().UnixNano()) }
	for range min(o.Workers, len(accounts)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= len(accounts) {
					return
				}
				a := accounts[k]
				s, done, err := r.setupAccount(ctx, a, touch, &drains)
				if err != nil {
					if ctx.Err() == nil {
						failures.addErr("setup", fmt.Errorf("%s: %w", r.jids[a], err))
					}
					continue
				}
				r.ops.Add(1)
				if done {
					nSkipped.Add(1)
					continue
				}
				kept[k] = s
			}
		})
	}
	wg.Wait()
	if l := failures.list(); len(l) > 0 {
		return nil, 0, fmt.Errorf("bench: setup: %d logins failed (%s first)", failures.n.Load(), l[0].Example)
	}
	// Wait for the subscriptions to settle: no roster push for a while.
	touch()
	deadline := time.Now().Add(o.Timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) && time.Since(time.Unix(0, lastPush.Load())) < setupQuiet {
		pause(ctx, 100*time.Millisecond)
	}
	// Check again.
	var (
		mu  sync.Mutex
		chk sync.WaitGroup
		sem = make(chan struct{}, o.Workers)
	)
	for k, s := range kept {
		if s == nil {
			continue
		}
		chk.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			octx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			ro, err := s.Roster(octx)
			if err != nil || !complete(ro, r.want(accounts[k])) {
				mu.Lock()
				incomplete = append(incomplete, accounts[k])
				mu.Unlock()
			}
		})
	}
	chk.Wait()
	if counting {
		skipped = int(nSkipped.Load())
	}
	return incomplete, skipped, nil
}

// setupAccount logs account a in and, unless its roster is complete
// (done, and the session closed), sends what it needs; the session then
// stays up, approving the requests of its contacts. touch is called on
// every roster push.
func (r *presenceRun) setupAccount(ctx context.Context, a int, touch func(), drains *sync.WaitGroup) (*client.Session, bool, error) {
	o := r.opt
	want := r.want(a)
	octx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s, err := client.Dial(octx, o.clientConfig(a))
	if err != nil {
		return nil, false, err
	}
	s.OnRosterPush(func(context.Context, string, client.RosterItem) { touch() })
	s.Handle("presence", "", func(_ context.Context, el *stanza.Element) {
		if el.Attr("type") != "subscribe" {
			return
		}
		from, err := jid.Parse(el.Attr("from"))
		if err != nil {
			return
		}
		if want[from.Bare().String()] {
			s.Approve(from.Bare())
		} else {
			s.Deny(from.Bare())
		}
	})
	drains.Go(func() { s.Serve(context.Background()) })
	r.mechanism.CompareAndSwap(nil, ptr(s.Mechanism()))
	// The roster first: a complete one needs nothing more, not even
	// initial presence (whose broadcast, and the unavailable presence at
	// the close, would cost the server more than the check itself).
	ro, err := s.Roster(octx)
	if err == nil && complete(ro, want) {
		s.CloseTimeout(min(o.Timeout, DefaultTimeout))
		return nil, true, nil
	}
	fail := func(err error) (*client.Session, bool, error) {
		s.Abort()
		return nil, false, err
	}
	if err != nil {
		return fail(err)
	}
	// Initial presence brings the requests that wait for this account
	// (RFC 6121 §3.1.3), which the handler answers.
	if err := s.SendPresence(client.Presence{}); err != nil {
		return fail(err)
	}
	have := map[string]client.RosterItem{}
	for _, it := range ro.Items {
		if !want[it.JID.String()] {
			if err := s.RemoveRosterItem(octx, it.JID); err != nil {
				return fail(fmt.Errorf("removing %s: %w", it.JID, err))
			}
			continue
		}
		have[it.JID.String()] = it
	}
	for _, c := range Ring(a, o.Count, o.Contacts) {
		j := r.jids[c]
		it := have[j.String()]
		if it.Subscription != "to" && it.Subscription != "both" {
			if err := s.Subscribe(j); err != nil {
				return fail(err)
			}
		}
		if it.Subscription != "from" && it.Subscription != "both" {
			if err := s.Approve(j); err != nil {
				return fail(err)
			}
		}
	}
	return s, false, nil
}

// presenceAcct is one account of the measured phase.
type presenceAcct struct {
	a       int
	want    map[string]bool
	seen    map[string]bool // the reader's own
	nSeen   atomic.Int64
	s       *client.Session
	failed  atomic.Bool // its failure is already counted
	readErr atomic.Pointer[error]
}

// measure runs the measured phase.
func (r *presenceRun) measure(ctx context.Context, rep *Report) {
	o := r.opt
	accts := make([]*presenceAcct, o.Count+1)
	for a := 1; a <= o.Count; a++ {
		accts[a] = &presenceAcct{a: a, want: r.want(a), seen: map[string]bool{}}
	}
	var (
		hist         histogram
		fromContacts atomic.Int64
		ended        atomic.Bool
		pending      atomic.Int64
		allDone      = make(chan struct{})
		allAt        atomic.Int64
		next         atomic.Int64
		logins       sync.WaitGroup
		readers      sync.WaitGroup
	)
	pending.Store(int64(o.Count))
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()

	m := startMeter(&Options{ServerPID: o.ServerPID}, nil)
	t0 := time.Now()
	phaseCtx, endPhase := context.WithDeadline(ctx, t0.Add(o.Timeout))
	defer endPhase()
	online := func() {
		if pending.Add(-1) == 0 {
			allAt.Store(int64(time.Since(t0)))
			close(allDone)
		}
	}
	read := func(acct *presenceAcct) {
		for {
			el, err := acct.s.Recv(readCtx)
			if errors.Is(err, xmlstream.ErrStreamEnd) {
				continue
			}
			if err != nil {
				acct.readErr.Store(&err)
				return
			}
			switch el.Name.Local {
			case "presence":
				if ended.Load() {
					continue
				}
				r.ops.Add(1)
				if el.Attr("type") != "" {
					continue
				}
				bare, _, _ := strings.Cut(el.Attr("from"), "/")
				if !acct.want[bare] {
					continue
				}
				fromContacts.Add(1)
				if !acct.seen[bare] {
					acct.seen[bare] = true
					if int(acct.nSeen.Add(1)) == len(acct.want) {
						online()
					}
				}
			case "iq":
				answerIQ(acct.s, el)
			}
		}
	}
	for range min(o.Workers, o.Count) {
		logins.Go(func() {
			for phaseCtx.Err() == nil {
				a := int(next.Add(1))
				if a > o.Count {
					return
				}
				acct := accts[a]
				t := time.Now()
				s, err := client.Dial(phaseCtx, o.clientConfig(a))
				if err != nil {
					if phaseCtx.Err() == nil {
						acct.failed.Store(true)
						r.errs.addErr("login", err)
					}
					continue
				}
				acct.s = s
				readers.Go(func() { read(acct) })
				ro, err := s.Online(phaseCtx, client.Presence{})
				if err != nil {
					if phaseCtx.Err() == nil {
						acct.failed.Store(true)
						r.errs.addErr("roster", err)
					}
					continue
				}
				hist.record(time.Since(t))
				if !complete(ro, acct.want) {
					acct.failed.Store(true)
					r.errs.add("roster: contacts missing", fmt.Sprintf("%s: the roster is not its %d contacts at both", r.jids[a], len(acct.want)))
				}
			}
		})
	}
	select {
	case <-allDone:
	case <-phaseCtx.Done():
	}
	ended.Store(true)
	m.stop(rep)
	rep.Ops = r.ops.Load()
	rep.ContactPresences = fromContacts.Load()
	endPhase()
	logins.Wait()
	rep.Latency = hist.latency()
	if pending.Load() == 0 {
		d := time.Duration(allAt.Load())
		rep.AllOnline = &d
	}
	var sessions []*client.Session
	for _, acct := range accts[1:] {
		if acct.s != nil {
			sessions = append(sessions, acct.s)
		}
		n := int(acct.nSeen.Load())
		if n == len(acct.want) {
			rep.Online++
			continue
		}
		if acct.failed.Load() || ctx.Err() != nil {
			continue
		}
		why := ""
		if e := acct.readErr.Load(); e != nil {
			why = " (its stream ended: " + (*e).Error() + ")"
		}
		r.errs.add("presence: contacts not all online", fmt.Sprintf("%s saw %d of its %d contacts available%s", r.jids[acct.a], n, len(acct.want), why))
	}

	r.setPhase("close")
	start := time.Now()
	rep.Aborted = closeBounded(sessions, o.Workers, min(o.Timeout, DefaultTimeout), closeBudget)
	stopReading()
	readers.Wait()
	rep.CloseTime = time.Since(start)
}

// answerIQ answers an IQ request as a plain client would: a ping
// (XEP-0199) or a roster push (RFC 6121 §2.1.6) with a result, any other
// request with service-unavailable.
func answerIQ(s *client.Session, iq *stanza.Element) {
	t := iq.Attr("type")
	if t != "get" && t != "set" {
		return
	}
	if (t == "get" && iq.Child(client.NSPing, "ping") != nil) || (t == "set" && iq.Child(client.NSRoster, "query") != nil) {
		res := stanza.New("", "iq").SetAttr("type", "result").SetAttr("id", iq.Attr("id"))
		if f := iq.Attr("from"); f != "" {
			res.SetAttr("to", f)
		}
		s.Send(res)
		return
	}
	s.Send(stanza.ErrorReply(iq, stanza.NewError(stanza.ServiceUnavailable, "")))
}
