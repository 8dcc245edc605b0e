package bench

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/stanza"
)

// setupParallel bounds the concurrent logins while the pairs are set up.
const setupParallel = 16

// pair is a sender and its partner. The window is a semaphore: a slot is
// taken when a message is sent and given back when the partner has it (or
// it bounced).
type pair struct {
	from, to *client.Session
	slots    chan struct{}
	sent     atomic.Int64
	received atomic.Int64
	bounced  atomic.Int64
	reorder  atomic.Int64
}

func (p *pair) release() {
	select {
	case <-p.slots:
	default:
	}
}

// Messages runs the messages scenario: Pairs pairs of accounts (1 sends to
// 2, 3 to 4...) log in and send initial presence; then, for Duration,
// each sender sends chat messages to its partner's full JID, keeping at
// most Window in flight; then it waits (up to Timeout) for the last ones.
// Each message carries its sequence number and sending time in its body;
// the latency runs from the sending to the partner's reading it. Every
// message must arrive, once and in order (RFC 6120 §10.1): Report.Lost and
// Report.Reordered count those that did not. A failed login while setting
// up is returned as an error, without a report.
//
// Stopping ctx stops the run early; the report covers what was done.
func Messages(ctx context.Context, opt Options) (*Report, error) {
	if err := opt.check("messages"); err != nil {
		return nil, err
	}
	rep := newReport("messages", &opt)
	rep.Pairs, rep.Window = opt.Pairs, opt.Window

	sessions, err := opt.loginAll(ctx, 2*opt.Pairs)
	defer closeAll(sessions, opt.Timeout)
	if err != nil {
		return nil, err
	}
	rep.Mechanism = sessions[0].Mechanism()
	pairs := make([]*pair, opt.Pairs)
	for i := range pairs {
		pairs[i] = &pair{from: sessions[2*i], to: sessions[2*i+1], slots: make(chan struct{}, opt.Window)}
	}

	var (
		hist    histogram
		errs    errorTable
		senders sync.WaitGroup
		readers sync.WaitGroup
	)
	delivered := func() int64 {
		var n int64
		for _, p := range pairs {
			n += p.received.Load()
		}
		return n
	}
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	// The meter starts before the run's timer, so that the wall time it
	// reports is never shorter than the duration.
	m := startMeter(&opt, func() Progress {
		return Progress{Scenario: "messages", Duration: opt.Duration, Ops: delivered(), Errors: errs.n.Load()}
	})
	runCtx, stop := context.WithTimeout(ctx, opt.Duration)
	defer stop()
	start := time.Now() // the messages' clock: monotonic, this process's
	for _, p := range pairs {
		readers.Go(func() { p.receive(readCtx, start, &hist, &errs) })
		readers.Go(func() { p.bounces(readCtx, &errs) })
		senders.Go(func() { p.send(ctx, runCtx, start, opt.Timeout, &errs) })
	}
	senders.Wait()
	m.stop(rep)
	stopReading()
	readers.Wait()

	for _, p := range pairs {
		rep.Sent += p.sent.Load()
		rep.Received += p.received.Load()
		rep.Reordered += p.reorder.Load()
	}
	rep.Ops = rep.Received
	rep.Lost = rep.Sent - rep.Received
	rep.Latency = hist.latency()
	rep.Errors = errs.list()
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// send sends until runCtx ends, then waits up to timeout for the
// messages in flight (every slot given back).
func (p *pair) send(ctx, runCtx context.Context, start time.Time, timeout time.Duration, errs *errorTable) {
	to := p.to.JID().String()
	var seq int64
	for {
		taken := false
		select {
		case p.slots <- struct{}{}:
			taken = true
		case <-runCtx.Done():
		}
		if runCtx.Err() != nil {
			if taken {
				p.release() // no message holds it
			}
			break
		}
		seq++
		body := strconv.FormatInt(seq, 10) + " " + strconv.FormatInt(int64(time.Since(start)), 10)
		msg := stanza.New("", "message").SetAttr("to", to).SetAttr("type", "chat").
			Append(stanza.New("", "body").AppendText(body))
		if err := p.from.Send(msg); err != nil {
			errs.addErr("send", err)
			p.release()
			break
		}
		p.sent.Add(1)
	}
	// Drain: take all the slots, which needs the receiver to give back
	// each one a message in flight holds.
	t := time.NewTimer(timeout)
	defer t.Stop()
	for range cap(p.slots) {
		select {
		case p.slots <- struct{}{}:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// receive reads the partner's stream: each message's latency, order and
// arrival.
func (p *pair) receive(ctx context.Context, start time.Time, hist *histogram, errs *errorTable) {
	from := p.from.JID().String()
	var last int64
	for {
		el, err := p.to.Recv(ctx)
		if err != nil {
			if ctx.Err() == nil {
				errs.addErr("receive", err)
			}
			return
		}
		if el.Name.Local != "message" || el.Attr("type") == "error" || el.Attr("from") != from {
			continue
		}
		seq, sent, ok := parseBody(el.ChildText("", "body"))
		if !ok {
			errs.add("receive: unexpected message", fmt.Sprintf("body %q", el.ChildText("", "body")))
			continue
		}
		hist.record(time.Since(start) - sent)
		if seq != last+1 {
			p.reorder.Add(1)
		}
		last = max(last, seq)
		p.received.Add(1)
		p.release()
	}
}

// bounces reads the sender's stream: a bounced message is an error, and
// gives its slot back.
func (p *pair) bounces(ctx context.Context, errs *errorTable) {
	for {
		el, err := p.from.Recv(ctx)
		if err != nil {
			if ctx.Err() == nil {
				errs.addErr("receive", err)
			}
			return
		}
		if el.Name.Local == "message" && el.Attr("type") == "error" {
			e := stanza.ParseError(el)
			if e == nil {
				e = stanza.NewError(stanza.UndefinedCondition, "")
			}
			errs.add("send: bounced "+string(e.Condition), e.Error())
			p.bounced.Add(1)
			p.release()
		}
	}
}

// parseBody reads "SEQ NANOSECONDS".
func parseBody(b string) (seq int64, sent time.Duration, ok bool) {
	a, c, found := strings.Cut(b, " ")
	if !found {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseInt(a, 10, 64)
	ns, err2 := strconv.ParseInt(c, 10, 64)
	return seq, time.Duration(ns), err1 == nil && err2 == nil
}

// loginAll logs accounts 1 to n in, a few at a time. On failure it
// returns the error with the sessions that did log in (to be closed).
func (o *Options) loginAll(ctx context.Context, n int) ([]*client.Session, error) {
	sessions := make([]*client.Session, n)
	errs := make([]error, n)
	sem := make(chan struct{}, setupParallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			octx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			s, phase, err := o.login(octx, i+1)
			if err != nil {
				j, _ := o.account(i + 1)
				errs[i] = fmt.Errorf("bench: login of %s (%s) failed: %w", j, phase, err)
				return
			}
			sessions[i] = s
		})
	}
	wg.Wait()
	var live []*client.Session
	for _, s := range sessions {
		if s != nil {
			live = append(live, s)
		}
	}
	var first error
	failed := 0
	for _, err := range errs {
		if err != nil {
			first = cmp.Or(first, err)
			failed++
		}
	}
	if failed > 1 {
		return live, fmt.Errorf("%w (and %d more)", first, failed-1)
	}
	if first != nil {
		return live, first
	}
	return sessions, nil
}

// closeAll closes the sessions concurrently.
func closeAll(sessions []*client.Session, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { s.CloseTimeout(timeout) })
	}
	wg.Wait()
}
