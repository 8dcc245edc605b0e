package client

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// NSPing is XEP-0199's namespace.
const NSPing = "urn:xmpp:ping"

// Handler handles a stanza a Session received. Handlers run one at a time,
// in arrival order, on a goroutine of their own: they may call IQ.
type Handler func(ctx context.Context, st *stanza.Element)

// IQHandler answers an IQ get or set: it returns the result's payload (nil
// for an empty result) or an error, sent as is when it is a *stanza.Error
// and as undefined-condition otherwise.
type IQHandler func(ctx context.Context, iq *stanza.Element) (*stanza.Element, error)

type iqKey struct {
	typ  string
	name stanza.Name
}

type handlerEntry struct {
	kind, ns string
	h        Handler
}

// dispatch is the Session's IQ correlation and handler table. The reader
// goroutine routes each stanza: answers to pending IQs to their waiters,
// stanzas some handler takes to the handler queue, the rest to Recv.
type dispatch struct {
	mu       sync.Mutex
	pending  map[string]*waiter
	nextID   uint64
	iqs      map[iqKey]IQHandler
	handlers []handlerEntry
	queue    []*stanza.Element
	wake     chan struct{}
	worker   bool
	ended    bool
}

type waiter struct {
	to jid.JID // whom the request went to (zero: our server)
	ch chan *stanza.Element
}

// ErrNoReply: the stream ended before the IQ was answered.
var ErrNoReply = errors.New("client: the stream ended before the reply")

// IQ sends an IQ get or set and waits for its result (RFC 6120 §8.2.3).
// An id is assigned if iq has none. A type='error' reply is returned with
// a *stanza.Error (errors.As); ctx bounds the wait. Replies are matched by
// id and by sender: only the entity asked (or our own server, for a request
// without 'to') can answer.
func (s *Session) IQ(ctx context.Context, iq *stanza.Element) (*stanza.Element, error) {
	if t := iq.Attr("type"); t != "get" && t != "set" {
		return nil, errors.New("client: IQ sends only get and set requests")
	}
	if iq.NumElements() != 1 {
		// Seed 10.4-4.
		return nil, errors.New("client: an IQ request carries exactly one child element")
	}
	var to jid.JID
	if t := iq.Attr("to"); t != "" {
		var err error
		if to, err = jid.Parse(t); err != nil {
			return nil, err
		}
	}
	w := &waiter{to: to, ch: make(chan *stanza.Element, 1)}
	s.dispatch.mu.Lock()
	if s.dispatch.ended {
		s.dispatch.mu.Unlock()
		return nil, ErrNoReply
	}
	id := iq.Attr("id")
	if id == "" {
		s.dispatch.nextID++
		id = "c" + strconv.FormatUint(s.dispatch.nextID, 10)
		iq.SetAttr("id", id)
	}
	if s.dispatch.pending == nil {
		s.dispatch.pending = map[string]*waiter{}
	}
	if s.dispatch.pending[id] != nil {
		s.dispatch.mu.Unlock()
		return nil, errors.New("client: an IQ with id " + id + " is already waiting")
	}
	s.dispatch.pending[id] = w
	s.dispatch.mu.Unlock()
	defer func() {
		s.dispatch.mu.Lock()
		delete(s.dispatch.pending, id)
		s.dispatch.mu.Unlock()
	}()
	if err := s.Send(iq); err != nil {
		return nil, err
	}
	select {
	case r, ok := <-w.ch:
		if !ok {
			return nil, ErrNoReply
		}
		if r.Attr("type") == "error" {
			e := stanza.ParseError(r)
			if e == nil {
				e = stanza.NewError(stanza.UndefinedCondition, "")
			}
			return r, e
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Ping sends an XEP-0199 ping to to (the zero JID: our server) and waits
// for the answer.
func (s *Session) Ping(ctx context.Context, to jid.JID) error {
	iq := stanza.New("", "iq").SetAttr("type", "get").Append(stanza.New(NSPing, "ping"))
	if !to.IsZero() {
		iq.SetAttr("to", to.String())
	}
	_, err := s.IQ(ctx, iq)
	return err
}

// HandleIQ makes h answer IQs of type typ ("get" or "set") whose payload
// is name. It panics on a duplicate registration, like http.ServeMux.
func (s *Session) HandleIQ(typ string, name stanza.Name, h IQHandler) {
	s.dispatch.mu.Lock()
	defer s.dispatch.mu.Unlock()
	k := iqKey{typ, name}
	if s.dispatch.iqs == nil {
		s.dispatch.iqs = map[iqKey]IQHandler{}
	}
	if _, dup := s.dispatch.iqs[k]; dup || h == nil {
		panic("client: duplicate or nil IQ handler for {" + name.Space + "}" + name.Local)
	}
	s.dispatch.iqs[k] = h
	s.startWorkerLocked()
}

// Handle makes h receive the stanzas of a kind ("message", "presence" or
// "iq") that have a child element in namespace ns ("" for all of that
// kind), from the time of the call. Several handlers may match one stanza:
// the first registered takes it. IQ requests go to HandleIQ handlers first.
func (s *Session) Handle(kind, ns string, h Handler) {
	s.dispatch.mu.Lock()
	defer s.dispatch.mu.Unlock()
	s.dispatch.handlers = append(s.dispatch.handlers, handlerEntry{kind: kind, ns: ns, h: h})
	s.startWorkerLocked()
}

func (s *Session) startWorkerLocked() {
	if s.dispatch.worker {
		return
	}
	s.dispatch.worker = true
	s.dispatch.wake = make(chan struct{}, 1)
	go s.work()
}

// route takes a stanza from the reader: true when it went to a waiter or
// to the handler queue, false when Recv should have it.
func (s *Session) route(el *stanza.Element) bool {
	d := &s.dispatch
	d.mu.Lock()
	defer d.mu.Unlock()
	if el.Name.Local == "iq" && el.Name.Space == "" {
		switch el.Attr("type") {
		case "result", "error":
			if w := d.pending[el.Attr("id")]; w != nil && s.fromMatches(el, w.to) {
				delete(d.pending, el.Attr("id"))
				w.ch <- el
				return true
			}
		case "get", "set":
			if p := el.FirstElement(); p != nil && d.iqs[iqKey{el.Attr("type"), p.Name}] != nil {
				d.enqueueLocked(el)
				return true
			}
		}
	}
	if el.Name.Space != "" {
		return false
	}
	for _, e := range d.handlers {
		if e.kind == el.Name.Local && (e.ns == "" || hasChildIn(el, e.ns)) {
			d.enqueueLocked(el)
			return true
		}
	}
	return false
}

// fromMatches: a reply must come from whom the request went to; for a
// request without 'to' (our account or server), from our bare JID, our
// server, or nobody (RFC 6120 §8.1.2.1).
func (s *Session) fromMatches(el *stanza.Element, to jid.JID) bool {
	from := el.Attr("from")
	if !to.IsZero() {
		f, err := jid.Parse(from)
		return err == nil && f == to
	}
	if from == "" {
		return true
	}
	f, err := jid.Parse(from)
	return err == nil && (f == s.jid.Bare() || f == s.jid || f.String() == s.jid.Domain())
}

func hasChildIn(el *stanza.Element, ns string) bool {
	for c := range el.Elements() {
		if c.Name.Space == ns {
			return true
		}
	}
	return false
}

func (d *dispatch) enqueueLocked(el *stanza.Element) {
	d.queue = append(d.queue, el)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// endDispatch fails the pending IQs once the stream is over.
func (s *Session) endDispatch() {
	d := &s.dispatch
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ended = true
	for id, w := range d.pending {
		close(w.ch)
		delete(d.pending, id)
	}
	if d.wake != nil {
		close(d.wake)
	}
}

// work runs the handlers, one stanza at a time.
func (s *Session) work() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &s.dispatch
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			wake := d.wake
			ended := d.ended
			d.mu.Unlock()
			if ended {
				return
			}
			if _, ok := <-wake; !ok {
				// Run what is still queued, then stop.
				d.mu.Lock()
				if len(d.queue) == 0 {
					d.mu.Unlock()
					return
				}
				d.mu.Unlock()
			}
			continue
		}
		el := d.queue[0]
		d.queue = d.queue[1:]
		var iqh IQHandler
		var h Handler
		if el.Name.Local == "iq" {
			if p := el.FirstElement(); p != nil {
				iqh = d.iqs[iqKey{el.Attr("type"), p.Name}]
			}
		}
		if iqh == nil {
			for _, e := range d.handlers {
				if e.kind == el.Name.Local && (e.ns == "" || hasChildIn(el, e.ns)) {
					h = e.h
					break
				}
			}
		}
		d.mu.Unlock()
		switch {
		case iqh != nil:
			s.answer(ctx, el, iqh)
		case h != nil:
			h(ctx, el)
		}
	}
}

// answer runs an IQ handler and sends its result or error.
func (s *Session) answer(ctx context.Context, iq *stanza.Element, h IQHandler) {
	res, err := h(ctx, iq)
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			se = stanza.NewError(stanza.UndefinedCondition, "")
		}
		s.Send(stanza.ErrorReply(iq, se))
		return
	}
	r := stanza.New("", "iq").SetAttr("type", "result").SetAttr("id", iq.Attr("id"))
	if f := iq.Attr("from"); f != "" {
		r.SetAttr("to", f)
	}
	s.Send(r.Append(res))
}

// Serve reads what no handler takes until the stream ends or ctx is done:
// it answers pings (XEP-0199), answers other IQ requests no handler serves
// with service-unavailable (RFC 6120 §8.4: every get and set gets an
// answer), and drops the rest. It returns nil when the stream ends
// cleanly, a *stanza.StreamError when the server ended it with an error,
// and ctx's error when ctx ends.
func (s *Session) Serve(ctx context.Context) error {
	for {
		el, err := s.Recv(ctx)
		switch {
		case errors.Is(err, xmlstream.ErrStreamEnd):
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if el.Name.Local != "iq" || el.Name.Space != "" {
			continue
		}
		switch t := el.Attr("type"); {
		case (t == "get" || t == "set") && el.NumElements() != 1:
			// Seed 10.4-4.
			s.Send(stanza.ErrorReply(el, stanza.NewError(stanza.BadRequest, "an IQ request carries exactly one child element")))
		case t == "get" && el.Child(NSPing, "ping") != nil:
			r := stanza.New("", "iq").SetAttr("type", "result").SetAttr("id", el.Attr("id"))
			if f := el.Attr("from"); f != "" {
				r.SetAttr("to", f)
			}
			s.Send(r)
		case t == "get" || t == "set":
			s.Send(stanza.ErrorReply(el, stanza.NewError(stanza.ServiceUnavailable, "")))
		}
	}
}
