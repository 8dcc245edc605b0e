package web

// XMPP over BOSH: XEP-0124 (BOSH, version 1.11.2) carrying XEP-0206 (XMPP
// over BOSH, version 1.4) at /http-bind.
//
// A BOSH session is a client stream like a WebSocket one: the session
// itself is the net.Conn given to c2s.Server.ServeConn, which negotiates,
// authenticates and routes it. Reading it yields a stream header made up
// from the session creation request (and from each restart request), then
// the payloads of the requests in rid order, and the closing stream tag
// when the client terminates. The stream writer (with the WebSocket
// framing: one item per Write, each element standalone) hands it its
// header, whose id and from the session keeps, and then each element,
// which goes into the answer to the oldest request held. A Write waits
// while no request is held, so that what the client has not been handed
// stays in the stream's own queue: when a session dies, c2s reroutes it.
//
// Supported: session creation, rid windows and ordering, hold and wait,
// resending lost answers, recoverable errors for repeated requests,
// inactivity, overactivity and polling checks, restarts, client and
// server termination. Not supported (and not advertised): acknowledgements,
// session pauses, key sequencing, multiple streams, compression.

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

const (
	nsHTTPBind = "http://jabber.org/protocol/httpbind"
	nsXBOSH    = "urn:xmpp:xbosh"
	// boshVer is the BOSH version we speak (XEP-0124 1.11.2).
	boshVer = "1.11"

	// boshMaxWait bounds the client's 'wait'; 0 makes a polling session.
	boshMaxWait = 60 * time.Second
	// boshMaxHold bounds the client's 'hold' (requests held at once);
	// 'requests' is hold+1.
	boshMaxHold = 2
	// boshPolling is the shortest polling interval we allow.
	boshPolling = 2 * time.Second
	// boshInactivity is how long a session lives with no request held.
	// A client may ask for less with an 'inactivity' attribute on its
	// creation request (not in XEP-0124; a shorter period only shortens
	// its own session), down to boshMinInactivity.
	boshInactivity    = 60 * time.Second
	boshMinInactivity = time.Second
	// boshMaxSessions bounds the BOSH sessions of the whole server.
	boshMaxSessions = 10000
	// boshFlushDelay gathers the elements the stream writes in one go
	// into one answer.
	boshFlushDelay = 5 * time.Millisecond
	// boshPollGrace is how long a polling session's request waits for
	// what the stream has ready (a polling session holds no request, so
	// the stream waits for the next one to hand its elements over).
	boshPollGrace = 50 * time.Millisecond
	// boshReadTimeout bounds the reading of one request body.
	boshReadTimeout = 30 * time.Second
	// boshOverhead is what a request body may add to the stanza limit:
	// the wrapper and its attributes.
	boshOverhead = 4096
	// boshMaxRID is the largest rid XEP-0124 §14.1 allows (2^53-1).
	boshMaxRID = 1<<53 - 1
)

// Binding conditions (XEP-0124 §17.2).
const (
	boshBadRequest        = "bad-request"
	boshImproperAddress   = "improper-addressing"
	boshItemNotFound      = "item-not-found"
	boshPolicyViolation   = "policy-violation"
	boshRemoteConnFailed  = "remote-connection-failed"
	boshRemoteStreamError = "remote-stream-error"
	boshSystemShutdown    = "system-shutdown"
)

var (
	boshEmpty       = []byte("<body xmlns='" + nsHTTPBind + "'/>")
	boshRecoverable = []byte("<body xmlns='" + nsHTTPBind + "' type='error'/>")

	// What the stream writer writes: with the WebSocket framing the
	// header is <open/> and the closing tag <close/>.
	boshOpen        = []byte("<open xmlns='" + c2s.NSFraming + "'")
	boshClose       = []byte("<close xmlns='" + c2s.NSFraming + "'")
	boshStreamError = []byte("<stream:error")
)

// boshTerminal is a terminating answer (XEP-0124 §17.2) carrying items,
// which may end with a <stream:error/> (XEP-0206 §7).
func boshTerminal(cond string, items []byte) []byte {
	b := []byte("<body xmlns='" + nsHTTPBind + "' xmlns:stream='" + stanza.NSStream + "' type='terminate'")
	if cond != "" {
		b = append(b, " condition='"+cond+"'"...)
	}
	if len(items) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = append(b, items...)
	return append(b, "</body>"...)
}

// enableBOSH serves BOSH at /http-bind, and ends its sessions first when
// the server shuts down (held requests would otherwise keep
// http.Server.Shutdown waiting).
func (s *Server) enableBOSH(mux *http.ServeMux) {
	if !s.cfg.HTTP.BOSH {
		return
	}
	mux.HandleFunc("POST /http-bind", s.serveBOSH)
	mux.HandleFunc("OPTIONS /http-bind", s.boshPreflight)
	s.http.RegisterOnShutdown(s.shutdownBOSH)
}

// boshTable holds the BOSH sessions by sid.
type boshTable struct {
	mu       sync.Mutex
	sessions map[string]*boshSession
	closing  bool
}

func (t *boshTable) get(sid string) *boshSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessions[sid]
}

// add registers a session, unless the server is shutting down or full.
func (t *boshTable) add(s *boshSession) (ok, closing bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false, true
	}
	if len(t.sessions) >= boshMaxSessions {
		return false, false
	}
	if t.sessions == nil {
		t.sessions = map[string]*boshSession{}
	}
	t.sessions[s.sid] = s
	return true, false
}

func (t *boshTable) remove(s *boshSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sessions[s.sid] == s {
		delete(t.sessions, s.sid)
	}
}

func (t *boshTable) isClosing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closing
}

// close refuses new sessions and returns the open ones.
func (t *boshTable) close() []*boshSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = true
	all := make([]*boshSession, 0, len(t.sessions))
	for _, s := range t.sessions {
		all = append(all, s)
	}
	return all
}

// shutdownBOSH ends every session with system-shutdown and the stream
// error (XEP-0124 §17.2, XEP-0206 §7), on the requests they hold.
func (s *Server) shutdownBOSH() {
	se := stanza.NewStreamError(stanza.StreamSystemShutdown, "the server is shutting down").Element()
	item := se.AppendStandalone(nil, stanza.NSClient)
	for _, sess := range s.bosh.close() {
		sess.mu.Lock()
		if !sess.ended {
			sess.finish(boshSystemShutdown, item, false)
		} else {
			sess.remove()
		}
		sess.mu.Unlock()
	}
}

// boshRequest is one request of a session, from its arrival to its answer.
type boshRequest struct {
	rid       uint64
	payload   []byte // the payloads, as stream content for the decoder
	empty     bool   // no payload, neither restart nor terminate
	creation  bool
	restart   bool
	terminate bool
	to, from  string // of a creation or restart request
	lang      string

	// Set once the session has it, under the session's lock.
	resp     chan []byte // the answer, for the HTTP request waiting on it
	items    []byte      // elements for the client, in order
	flushing bool        // the answer goes out in a moment
	timer    *time.Timer // wait, then the flush
	answered bool
}

// boshCached is an answer kept for a client that did not get it.
type boshCached struct {
	rid  uint64
	body []byte
}

// boshSession is one BOSH session, and the net.Conn of its client stream.
type boshSession struct {
	web        *Server
	sid        string
	client     net.Addr
	local      net.Addr
	encrypted  bool   // created over HTTPS: so must every request be
	content    string // the Content-Type of answers
	ver        string // the BOSH version agreed, "" for a legacy client
	version    string // the XMPP version asked for
	to, lang   string
	wait       time.Duration
	hold       int
	requests   int
	inactivity time.Duration
	polling    bool
	maxIn      int // unread input allowed
	maxOut     int // answer size that stops adding elements

	mu          sync.Mutex
	lastRID     uint64                  // the latest request processed, in rid order
	held        []*boshRequest          // processed and not answered yet, in rid order
	early       map[uint64]*boshRequest // arrived before a lower rid
	cache       []boshCached            // the latest answers, at most requests of them
	prev        *boshRequest            // the latest new request
	prevAt      time.Time               // and when it came
	idle        *time.Timer             // inactivity, while no request is held
	streamID    string                  // from the stream's header
	from        string
	streamErr   []byte // the stream error the stream writer wrote
	errCond     stanza.StreamCondition
	terminating bool   // the client terminated: answers wait for the stream's end
	ended       bool   // no more stream traffic
	removed     bool   // out of the table
	pendingEnd  []byte // the terminal answer for the next request
	fedEnd      bool   // the closing stream tag is in the input
	in          []byte // input not read yet
	rdl, wdl    time.Time
	rwake       chan struct{}
	wwake       chan struct{}
}

// boshWake wakes whoever waits on ch (with room for one signal).
func boshWake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// serveBOSH answers a BOSH request: a session creation request, or a
// request of an existing session.
func (s *Server) serveBOSH(w http.ResponseWriter, r *http.Request) {
	if !s.boshCORS(w, r) {
		http.Error(w, "this origin may not use BOSH here", http.StatusForbidden)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(boshReadTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.XML.MaxStanzaBytes)+boshOverhead))
	// A held request waits for as long as it must.
	rc.SetReadDeadline(time.Time{})
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeBOSH(w, "", boshTerminal(boshPolicyViolation, nil))
		}
		return
	}
	body, req, err := s.parseBOSH(data)
	if err != nil {
		s.log.Debug("BOSH request refused", "err", err)
		writeBOSH(w, "", boshTerminal(boshBadRequest, nil))
		return
	}
	sid := body.Attr("sid")
	if sid == "" {
		s.createBOSH(w, r, body, req)
		return
	}
	sess := s.bosh.get(sid)
	if sess == nil {
		writeBOSH(w, "", boshTerminal(boshItemNotFound, nil))
		return
	}
	if sess.encrypted && !s.encrypted(r) {
		// XEP-0124 §19: refuse, but do not let an eavesdropper end
		// the session.
		http.Error(w, "this session is encrypted", http.StatusForbidden)
		return
	}
	ch, answer := sess.receive(req)
	sess.reply(w, r, ch, answer)
}

// reply writes the answer, now or when it comes.
func (s *boshSession) reply(w http.ResponseWriter, r *http.Request, ch <-chan []byte, answer []byte) {
	if answer == nil {
		select {
		case answer = <-ch:
		case <-r.Context().Done():
			// The client went away; the answer, when ready, is kept
			// for the request's repetition.
			return
		}
	}
	writeBOSH(w, s.content, answer)
}

func writeBOSH(w http.ResponseWriter, content string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", cmp.Or(content, "text/xml; charset=utf-8"))
	h.Set("Cache-Control", "no-store")
	// Not chunked (XEP-0124 §5).
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// parseBOSH reads a request: the <body/> wrapper and its payloads, which
// it serialises again as jabber:client stream content. Payloads in the
// wrapper's namespace are taken as jabber:client (XEP-0206 §3, the note
// on clients that leave the namespace out).
func (s *Server) parseBOSH(data []byte) (*stanza.Element, *boshRequest, error) {
	lim := xmlstream.Limits{
		MaxStanzaBytes: len(data) + 1,
		MaxAttrs:       max(s.cfg.XML.MaxAttrs, 32),
		StrictEscaping: s.cfg.XML.StrictEscaping,
	}
	if s.cfg.XML.MaxDepth > 0 {
		lim.MaxDepth = s.cfg.XML.MaxDepth + 1
	}
	body, err := xmlstream.Parse(data, stanza.NSClient, lim)
	if err != nil {
		return nil, nil, err
	}
	if body.Name != (stanza.Name{Space: nsHTTPBind, Local: "body"}) {
		return nil, nil, errors.New("not a BOSH <body/>")
	}
	rid, err := strconv.ParseUint(body.Attr("rid"), 10, 64)
	if err != nil || rid == 0 || rid > boshMaxRID {
		return nil, nil, errors.New("no valid rid")
	}
	req := &boshRequest{
		rid:       rid,
		terminate: body.Attr("type") == "terminate",
		restart:   boshTrue(body.AttrNS(nsXBOSH, "restart")),
		to:        body.Attr("to"),
		from:      body.Attr("from"),
		lang:      body.AttrNS(stanza.NSXML, "lang"),
	}
	for el := range body.Elements() {
		boshToClient(el)
		req.payload = el.AppendXML(req.payload, stanza.NSClient)
	}
	req.empty = len(req.payload) == 0 && !req.restart && !req.terminate
	return body, req, nil
}

func boshTrue(v string) bool { return v == "true" || v == "1" }

// boshToClient moves elements in the BOSH namespace to jabber:client.
func boshToClient(el *stanza.Element) {
	if el.Name.Space == nsHTTPBind {
		el.Name.Space = ""
	}
	for c := range el.Elements() {
		boshToClient(c)
	}
}

// encrypted reports whether the request came over HTTPS, directly or
// through a trusted proxy.
func (s *Server) encrypted(r *http.Request) bool {
	return r.TLS != nil || s.trustedRequest(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// createBOSH answers a session creation request (XEP-0124 §7.1,
// XEP-0206 §3).
func (s *Server) createBOSH(w http.ResponseWriter, r *http.Request, body *stanza.Element, req *boshRequest) {
	client := s.clientAddr(r)
	secure := s.secure(r, client)
	switch {
	case req.to == "":
		writeBOSH(w, "", boshTerminal(boshImproperAddress, nil))
		return
	case !secure && !s.cfg.C2S.AllowPlaintext:
		// There is no STARTTLS over BOSH (XEP-0206 §4).
		writeBOSH(w, "", boshTerminal(boshPolicyViolation, nil))
		return
	}
	sess := &boshSession{
		web:        s,
		sid:        xmlstream.NewStreamID(),
		client:     client,
		encrypted:  s.encrypted(r),
		content:    "text/xml; charset=utf-8",
		version:    cmp.Or(body.AttrNS(nsXBOSH, "version"), "1.0"),
		to:         req.to,
		lang:       req.lang,
		wait:       boshMaxWait,
		hold:       1,
		inactivity: boshInactivity,
		maxIn:      4 * (s.cfg.XML.MaxStanzaBytes + boshOverhead),
		maxOut:     max(s.cfg.XML.MaxStanzaBytes, 64<<10),
		lastRID:    req.rid - 1,
		early:      map[uint64]*boshRequest{},
		rwake:      make(chan struct{}, 1),
		wwake:      make(chan struct{}, 1),
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		sess.local = a
	}
	if c := body.Attr("content"); c != "" && !strings.ContainsAny(c, "\r\n") {
		if _, _, err := mime.ParseMediaType(c); err == nil {
			sess.content = c
		}
	}
	if v := body.Attr("ver"); v != "" {
		sess.ver = boshMinVersion(v, boshVer)
	}
	if n, err := strconv.Atoi(body.Attr("wait")); err == nil && n >= 0 {
		sess.wait = time.Duration(min(n, int(boshMaxWait/time.Second))) * time.Second
	}
	if n, err := strconv.Atoi(body.Attr("hold")); err == nil && n >= 0 {
		sess.hold = min(n, boshMaxHold)
	}
	sess.requests = sess.hold + 1
	sess.polling = sess.hold == 0 || sess.wait == 0
	if n, err := strconv.Atoi(body.Attr("inactivity")); err == nil && n > 0 {
		sess.inactivity = max(time.Duration(min(n, int(boshInactivity/time.Second)))*time.Second, boshMinInactivity)
	}
	if !s.limits.acquire(client, s.cfg.HTTP.MaxSessionsPerIP) {
		s.log.Warn("too many web sessions from one address", "client", client.String())
		tooMany(w)
		return
	}
	if ok, closing := s.bosh.add(sess); !ok {
		s.limits.release(client)
		if closing {
			writeBOSH(w, "", boshTerminal(boshSystemShutdown, nil))
			return
		}
		s.log.Warn("too many BOSH sessions", "max", boshMaxSessions)
		w.Header().Set("Retry-After", "30")
		http.Error(w, "too many sessions", http.StatusServiceUnavailable)
		return
	}
	req.creation = true
	req.empty = false
	ch, answer := sess.receive(req)
	go func() {
		s.opt.C2S.ServeConn(sess, c2s.Transport{Framed: true, Name: "bosh", Secure: secure, Remote: client})
		sess.Close()
	}()
	sess.reply(w, r, ch, answer)
}

// boshMinVersion returns the lower of two "major.minor" versions.
func boshMinVersion(a, b string) string {
	parse := func(v string) (int, int, bool) {
		ma, mi, ok := strings.Cut(v, ".")
		x, err1 := strconv.Atoi(ma)
		y, err2 := strconv.Atoi(mi)
		return x, y, ok && err1 == nil && err2 == nil && x >= 0 && y >= 0
	}
	ax, ay, ok := parse(a)
	if !ok {
		return b
	}
	bx, by, _ := parse(b)
	if ax < bx || ax == bx && ay < by {
		return strconv.Itoa(ax) + "." + strconv.Itoa(ay)
	}
	return b
}

// boshCORS sets the CORS headers for a page from another origin allowed
// by http.allowed_origins, and reports false for one that is not allowed.
// A request without Origin, or from our own origin, needs nothing.
func (s *Server) boshCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range s.origins(r) {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "86400")
			h.Add("Vary", "Origin")
			return true
		}
	}
	return false
}

// boshPreflight answers a CORS preflight request.
func (s *Server) boshPreflight(w http.ResponseWriter, r *http.Request) {
	if !s.boshCORS(w, r) {
		http.Error(w, "this origin may not use BOSH here", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// receive takes a request in. It returns the answer when it is known at
// once, or the channel it will come on.
func (s *boshSession) receive(req *boshRequest) (<-chan []byte, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pendingEnd != nil {
		// The stream ended while no request was held.
		body := s.pendingEnd
		s.pendingEnd = nil
		s.remove()
		return nil, body
	}
	if s.ended {
		return nil, boshTerminal(boshItemNotFound, nil)
	}
	rid := req.rid
	if rid <= s.lastRID || s.early[rid] != nil {
		// A repeated request (XEP-0124 §14.3).
		for _, c := range s.cache {
			if c.rid == rid {
				return nil, c.body
			}
		}
		if old := s.outstanding(rid); old != nil {
			// Not answered yet: the earlier HTTP request gets a
			// recoverable error, this one the answer.
			select {
			case old.resp <- boshRecoverable:
			default:
			}
			old.resp = make(chan []byte, 1)
			return old.resp, nil
		}
		return nil, s.fail(boshItemNotFound)
	}
	if rid > s.lastRID+uint64(s.requests) {
		// Beyond the window (XEP-0124 §14.2).
		return nil, s.fail(boshItemNotFound)
	}
	open := len(s.early)
	for _, h := range s.held {
		if !h.flushing {
			open++
		}
	}
	allowed := s.requests
	if req.terminate {
		allowed++
	}
	now := time.Now()
	if open+1 > allowed || req.empty && s.tooFrequent(open, now) {
		// Overactivity (XEP-0124 §11, §12).
		s.web.log.Info("BOSH client too active", "sid", s.sid, "client", s.client.String())
		return nil, s.fail(boshPolicyViolation)
	}
	s.prev, s.prevAt = req, now
	req.resp = make(chan []byte, 1)
	if rid != s.lastRID+1 {
		s.early[rid] = req
		return req.resp, nil
	}
	s.process(req)
	for !s.ended {
		next := s.early[s.lastRID+1]
		if next == nil {
			break
		}
		delete(s.early, next.rid)
		s.process(next)
	}
	return req.resp, nil
}

// tooFrequent applies the polling rules to an empty request: in a
// polling session, two empty requests closer than the polling interval
// when the first got nothing (XEP-0124 §12); otherwise, every request
// slot taken by requests not answered yet, the last two closer than the
// polling interval (§11).
func (s *boshSession) tooFrequent(open int, now time.Time) bool {
	if s.prev == nil || now.Sub(s.prevAt) >= boshPolling {
		return false
	}
	if s.polling {
		return s.prev.empty && s.prev.answered && len(s.prev.items) == 0
	}
	return open+1 >= s.requests
}

// outstanding finds a request received and not answered.
func (s *boshSession) outstanding(rid uint64) *boshRequest {
	if r := s.early[rid]; r != nil {
		return r
	}
	for _, r := range s.held {
		if r.rid == rid {
			return r
		}
	}
	return nil
}

// process hands a request's content to the stream, in rid order, and
// holds the request for the answer.
func (s *boshSession) process(req *boshRequest) {
	s.lastRID = req.rid
	if s.idle != nil {
		s.idle.Stop()
	}
	switch {
	case req.creation || req.restart:
		// A restart's payloads are ignored (XEP-0206 §5).
		s.feed(s.streamHeader(req))
	default:
		s.feed(req.payload)
	}
	if req.terminate {
		s.terminating = true
		s.feedEnd()
	}
	if len(s.in) > s.maxIn {
		s.fail(boshPolicyViolation)
		req.resp <- boshTerminal(boshPolicyViolation, nil)
		return
	}
	s.held = append(s.held, req)
	req.timer = time.AfterFunc(max(s.wait, boshPollGrace), func() { s.flush(req) })
	boshWake(s.wwake)
	if s.terminating {
		return
	}
	// Hold no more than 'hold' requests (XEP-0124 §7): the older ones
	// are answered now, with whatever they carry.
	n := 0
	for _, h := range s.held {
		if !h.flushing {
			n++
		}
	}
	var over []*boshRequest
	for _, h := range s.held {
		if n <= s.hold {
			break
		}
		if !h.flushing {
			n--
			over = append(over, h)
		}
	}
	for _, h := range over {
		if h == req {
			// A polling session: leave the stream a moment to
			// hand over what it has waiting.
			s.flushSoon(h, boshPollGrace)
		} else {
			s.answer(h)
		}
	}
}

// streamHeader makes up the stream header of a creation or restart
// request (XEP-0206 §3, §5).
func (s *boshSession) streamHeader(req *boshRequest) []byte {
	attrs := []stanza.Attr{
		{Name: stanza.Name{Local: "to"}, Value: cmp.Or(req.to, s.to)},
		{Name: stanza.Name{Local: "version"}, Value: s.version},
	}
	if lang := cmp.Or(req.lang, s.lang); lang != "" {
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Space: stanza.NSXML, Local: "lang"}, Value: lang})
	}
	if req.from != "" {
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Local: "from"}, Value: req.from})
	}
	return xmlstream.AppendOpen(nil, false, stanza.NSClient, attrs)
}

func (s *boshSession) feed(b []byte) {
	if s.fedEnd || len(b) == 0 {
		return
	}
	s.in = append(s.in, b...)
	boshWake(s.rwake)
}

// feedEnd gives the stream the client's closing tag.
func (s *boshSession) feedEnd() {
	s.feed([]byte(xmlstream.Close))
	s.fedEnd = true
}

// flushSoon answers req after d, with what it has by then.
func (s *boshSession) flushSoon(req *boshRequest, d time.Duration) {
	if req.flushing || req.answered {
		return
	}
	req.flushing = true
	req.timer.Reset(d)
}

// flush runs when a request's wait is over, or its flush delay.
func (s *boshSession) flush(req *boshRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.answered || s.ended {
		return
	}
	if s.terminating {
		// The stream did not end in time after the client's
		// terminate request: end the session anyway.
		s.finish("", nil, false)
		return
	}
	s.answer(req)
}

// answer answers req, and before it every older request held.
func (s *boshSession) answer(req *boshRequest) {
	i := slices.Index(s.held, req)
	if i < 0 {
		return
	}
	for _, h := range s.held[:i+1] {
		s.respond(h, s.answerBody(h), true)
	}
	s.held = slices.Delete(s.held, 0, i+1)
	if len(s.held) == 0 {
		s.startIdle()
	}
}

// respond gives a request its answer, kept for a repetition when keep.
func (s *boshSession) respond(req *boshRequest, body []byte, keep bool) {
	if req.answered {
		return
	}
	req.answered = true
	if req.timer != nil {
		req.timer.Stop()
	}
	if keep {
		s.cache = append(s.cache, boshCached{req.rid, body})
		if len(s.cache) > s.requests {
			s.cache = slices.Delete(s.cache, 0, len(s.cache)-s.requests)
		}
	}
	select {
	case req.resp <- body:
	default:
	}
}

// answerBody is the <body/> answering req: its elements, and the session
// attributes for the creation request (XEP-0124 §7.2, XEP-0206 §3).
func (s *boshSession) answerBody(req *boshRequest) []byte {
	if !req.creation && len(req.items) == 0 {
		return boshEmpty
	}
	b := []byte("<body xmlns='" + nsHTTPBind + "' xmlns:stream='" + stanza.NSStream + "'")
	if req.creation {
		b = fmt.Appendf(b, " sid='%s' wait='%d' requests='%d' hold='%d' inactivity='%d' polling='%d'",
			s.sid, s.wait/time.Second, s.requests, s.hold, s.inactivity/time.Second, boshPolling/time.Second)
		if s.ver != "" {
			b = append(b, " ver='"+s.ver+"'"...)
		}
		b = append(b, " from='"+escapeAttr(cmp.Or(s.from, s.to))+"'"...)
		if s.streamID != "" {
			b = append(b, " authid='"+escapeAttr(s.streamID)+"'"...)
		}
		b = append(b, " xmlns:xmpp='"+nsXBOSH+"' xmpp:version='1.0' xmpp:restartlogic='true'"...)
	}
	if len(req.items) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = append(b, req.items...)
	return append(b, "</body>"...)
}

func (s *boshSession) startIdle() {
	if s.ended && s.pendingEnd == nil {
		return
	}
	if s.idle == nil {
		s.idle = time.AfterFunc(s.inactivity, s.expire)
		return
	}
	s.idle.Reset(s.inactivity)
}

// expire ends a session whose client made no request for the inactivity
// period (XEP-0124 §10), without telling it: a later request finds no
// session.
func (s *boshSession) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) > 0 || s.removed {
		return
	}
	if !s.ended {
		s.web.log.Info("BOSH session inactive; ending it", "sid", s.sid, "client", s.client.String(), "inactivity", s.inactivity)
	}
	body := boshTerminal(boshItemNotFound, nil)
	for _, r := range s.early {
		s.respond(r, body, false)
	}
	clear(s.early)
	s.pendingEnd = nil
	s.end()
	s.remove()
}

// fail ends the session on a binding error, and returns the answer for
// the request that caused it.
func (s *boshSession) fail(cond string) []byte {
	s.web.log.Info("BOSH session ended", "sid", s.sid, "client", s.client.String(), "condition", cond)
	s.finish(cond, nil, false)
	return boshTerminal(cond, nil)
}

// finish ends the session with a terminal answer: the oldest request
// outstanding gets it, with every element still to deliver and then
// tail; the others get the same condition without content, or an empty
// body for a plain termination (XEP-0124 §13). With keep, a session with
// no request outstanding keeps the answer for the next one.
func (s *boshSession) finish(cond string, tail []byte, keep bool) {
	var items []byte
	for _, h := range s.held {
		items = append(items, h.items...)
	}
	items = append(items, tail...)
	body := boshTerminal(cond, items)
	rest := boshTerminal(cond, nil)
	if cond == "" {
		rest = boshEmpty
	}
	out := s.held
	for _, rid := range slices.Sorted(maps.Keys(s.early)) {
		out = append(out, s.early[rid])
	}
	s.held = nil
	clear(s.early)
	for i, r := range out {
		if i == 0 {
			s.respond(r, body, false)
		} else {
			s.respond(r, rest, false)
		}
	}
	s.end()
	if len(out) == 0 && keep {
		s.pendingEnd = body
		s.startIdle()
		return
	}
	s.remove()
}

// end stops the stream traffic: the reader gets the closing tag, the
// writer an error.
func (s *boshSession) end() {
	if s.ended {
		return
	}
	s.ended = true
	s.feedEnd()
	boshWake(s.rwake)
	boshWake(s.wwake)
}

// remove takes the session out of the table and frees its client's slot.
func (s *boshSession) remove() {
	if s.removed {
		return
	}
	s.removed = true
	if s.idle != nil {
		s.idle.Stop()
	}
	s.web.bosh.remove(s)
	s.web.limits.release(s.client)
}

// Read yields the stream's input: the made-up headers and the payloads.
func (s *boshSession) Read(p []byte) (int, error) {
	s.mu.Lock()
	for {
		if len(s.in) > 0 {
			n := copy(p, s.in)
			s.in = s.in[n:]
			if len(s.in) == 0 {
				s.in = nil
			}
			s.mu.Unlock()
			return n, nil
		}
		if s.ended {
			s.mu.Unlock()
			return 0, io.EOF
		}
		dl := s.rdl
		s.mu.Unlock()
		if err := boshWait(s.rwake, dl); err != nil {
			return 0, err
		}
		s.mu.Lock()
	}
}

// boshWait waits for a signal on ch until the deadline dl (zero: none).
func boshWait(ch chan struct{}, dl time.Time) error {
	if dl.IsZero() {
		<-ch
		return nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return timeoutError{}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return timeoutError{}
	}
}

// Write takes one item from the stream writer: the header, an element,
// a stream error or the closing tag.
func (s *boshSession) Write(p []byte) (int, error) {
	switch {
	case bytes.HasPrefix(p, boshOpen):
		var id, from string
		if el, err := xmlstream.Parse(p, "", xmlstream.DefaultLimits()); err == nil {
			id, from = el.Attr("id"), el.Attr("from")
		}
		s.mu.Lock()
		s.streamID, s.from = id, from
		s.mu.Unlock()
		return len(p), nil
	case bytes.HasPrefix(p, boshStreamError):
		cond := stanza.StreamUndefinedCondition
		if el, err := xmlstream.Parse(p, "", xmlstream.DefaultLimits()); err == nil {
			cond = stanza.ParseStreamError(el).Condition
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.ended {
			return 0, net.ErrClosed
		}
		// It ends the last answer (XEP-0206 §7).
		s.streamErr, s.errCond = bytes.Clone(p), cond
		return len(p), nil
	case bytes.HasPrefix(p, boshClose):
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.ended {
			return 0, net.ErrClosed
		}
		// A stream error makes a remote-stream-error (XEP-0206 §7),
		// except system-shutdown, which is what XEP-0124 §17.2 has
		// for a server going down.
		cond := ""
		if s.streamErr != nil {
			cond = boshRemoteStreamError
			if s.errCond == stanza.StreamSystemShutdown {
				cond = boshSystemShutdown
			}
		}
		s.finish(cond, s.streamErr, true)
		return len(p), nil
	}
	item := bytes.Clone(p)
	s.mu.Lock()
	for {
		if s.ended {
			s.mu.Unlock()
			return 0, net.ErrClosed
		}
		if req := s.target(); req != nil {
			req.items = append(req.items, item...)
			if !s.terminating {
				s.flushSoon(req, boshFlushDelay)
			}
			s.mu.Unlock()
			return len(p), nil
		}
		// No request to carry it: wait for the client's next one.
		dl := s.wdl
		s.mu.Unlock()
		if err := boshWait(s.wwake, dl); err != nil {
			return 0, err
		}
		s.mu.Lock()
	}
}

// target is the held request the next element goes with: the oldest one
// with room left.
func (s *boshSession) target() *boshRequest {
	for _, h := range s.held {
		if len(h.items) < s.maxOut {
			return h
		}
	}
	return nil
}

// Close ends the session when the stream is over.
func (s *boshSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		cond := boshRemoteConnFailed
		if s.web.bosh.isClosing() {
			cond = boshSystemShutdown
		}
		s.finish(cond, nil, false)
	}
	return nil
}

func (s *boshSession) LocalAddr() net.Addr  { return s.local }
func (s *boshSession) RemoteAddr() net.Addr { return s.client }

func (s *boshSession) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *boshSession) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.rdl = t
	s.mu.Unlock()
	return nil
}

func (s *boshSession) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.wdl = t
	s.mu.Unlock()
	return nil
}

var _ net.Conn = (*boshSession)(nil)
