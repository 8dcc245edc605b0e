package client

// Instant messaging and presence helpers (RFC 6121) on a Session: the
// roster, presence subscriptions, presence and messages. Every stanza here
// is built as a *stanza.Element and written by stanza's encoder, which
// escapes all five predefined entities in character data and attribute
// values and never writes comments, processing instructions or DTDs (seed
// 9-1): text from anywhere may go into a body, a status or a roster name.
//
// The usual start of an IM session (seed 11-2: the roster before initial
// presence, RFC 6121 §2.2):
//
//	s.OnRosterPush(func(ctx context.Context, ver string, it client.RosterItem) { ... })
//	r, err := s.Online(ctx, client.Presence{Status: "here"})
//
// Online fetches the roster and only then sends initial presence, so the
// client knows its contacts before their presence and subscription
// requests arrive. A client that keeps the roster between sessions calls
// RosterSince with the version it has, then SendPresence.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// Namespaces of RFC 6121 §2 (the roster) and §2.6.1 (the stream feature
// advertising roster versioning).
const (
	NSRoster    = "jabber:iq:roster"
	NSRosterVer = "urn:xmpp:features:rosterver"
)

// RosterItem is one contact of the roster (RFC 6121 §2.1.2).
type RosterItem struct {
	// JID is the contact's bare JID.
	JID jid.JID
	// Name is the user's name for the contact; "" for none.
	Name string
	// Subscription is "none", "to" (the user sees the contact's
	// presence), "from" (the contact sees the user's), "both", or, in a
	// roster push, "remove" for an item that was deleted (RFC 6121
	// §2.1.2.5). The server sets it; SetRosterItem ignores it.
	Subscription string
	// Ask is set while the user's subscription request awaits the
	// contact's answer (ask='subscribe', RFC 6121 §2.1.2.2). The server
	// sets it; SetRosterItem ignores it.
	Ask bool
	// Approved is set when the user pre-approved a subscription request
	// from the contact (RFC 6121 §2.1.2.1, §3.4). The server sets it;
	// SetRosterItem ignores it.
	Approved bool
	// Groups are the groups the contact is in (RFC 6121 §2.1.2.4).
	Groups []string
}

// Roster is a roster as the server returned it (RFC 6121 §2.1.3).
type Roster struct {
	// Ver is the roster's version (RFC 6121 §2.6); "" when the server does
	// not version rosters.
	Ver string
	// Items are the contacts. Empty when Incremental.
	Items []RosterItem
	// Incremental: the server answered a RosterSince with an empty result
	// (RFC 6121 §2.6.3): the roster is the one the client has at Ver,
	// plus the changes that the server sends as roster pushes right
	// after, if any.
	Incremental bool
}

// Item returns the roster's item (RFC 6121 §2.1.2) for the bare JID of j.
func (r Roster) Item(j jid.JID) (RosterItem, bool) {
	for _, it := range r.Items {
		if it.JID == j.Bare() {
			return it, true
		}
	}
	return RosterItem{}, false
}

// RosterVersioning reports whether the server advertised roster
// versioning (RFC 6121 §2.6.1).
func (s *Session) RosterVersioning() bool {
	return s.features != nil && s.features.Child(NSRosterVer, "ver") != nil
}

// Roster fetches the whole roster (RFC 6121 §2.1.3; seed 11-1). When the
// server versions rosters the request carries an empty 'ver' (§2.6.3,
// bootstrap) and the answer's version is in Ver. A client that wants
// roster pushes registers OnRosterPush before: the server sends them to
// resources that requested the roster (§2.1.6).
func (s *Session) Roster(ctx context.Context) (Roster, error) {
	return s.RosterSince(ctx, "")
}

// RosterSince fetches the roster as a change from version ver, one the
// client cached earlier (RFC 6121 §2.6.3). The server either returns the
// whole roster, or an empty result (Incremental) followed by the changes
// as roster pushes, which only a handler registered with OnRosterPush
// receives. Without roster versioning on the server, or with ver "", it is
// Roster.
func (s *Session) RosterSince(ctx context.Context, ver string) (Roster, error) {
	q := stanza.New(NSRoster, "query")
	versioned := s.RosterVersioning()
	if versioned {
		q.SetAttr("ver", ver)
	}
	res, err := s.IQ(ctx, stanza.New("", "iq").SetAttr("type", "get").Append(q))
	if err != nil {
		return Roster{}, err
	}
	rq := res.Child(NSRoster, "query")
	if rq == nil {
		if versioned && ver != "" {
			return Roster{Ver: ver, Incremental: true}, nil
		}
		return Roster{}, errors.New("client: the roster result holds no roster")
	}
	r := Roster{Ver: rq.Attr("ver")}
	for el := range rq.Elements() {
		if el.Name != (stanza.Name{Space: NSRoster, Local: "item"}) {
			continue
		}
		// An item whose JID is not a JID cannot be addressed: it is
		// left out rather than failing the whole roster.
		if it, err := parseRosterItem(el); err == nil {
			r.Items = append(r.Items, it)
		}
	}
	return r, nil
}

// parseRosterItem reads an <item/> of a roster result or push.
func parseRosterItem(el *stanza.Element) (RosterItem, error) {
	j, err := jid.Parse(el.Attr("jid"))
	if err != nil {
		return RosterItem{}, fmt.Errorf("client: roster item with a bad JID %q: %w", el.Attr("jid"), err)
	}
	it := RosterItem{
		JID:          j,
		Name:         el.Attr("name"),
		Subscription: el.Attr("subscription"),
		Ask:          el.Attr("ask") == "subscribe",
		Approved:     el.Attr("approved") == "true" || el.Attr("approved") == "1",
	}
	if it.Subscription == "" {
		it.Subscription = "none" // RFC 6121 §2.1.2.5: the default
	}
	for g := range el.Elements() {
		if g.Name == (stanza.Name{Space: NSRoster, Local: "group"}) {
			it.Groups = append(it.Groups, g.Text())
		}
	}
	return it, nil
}

// SetRosterItem adds the contact it.JID to the roster or updates its name
// and groups (RFC 6121 §2.3, §2.4; seed 11-1). Subscription, Ask and
// Approved are not sent: only presence subscriptions change them
// (§2.1.2). The server pushes the new item to every interested resource.
func (s *Session) SetRosterItem(ctx context.Context, it RosterItem) error {
	if it.JID.IsZero() {
		return errors.New("client: a roster item needs a JID")
	}
	el := stanza.New(NSRoster, "item").SetAttr("jid", it.JID.Bare().String())
	if it.Name != "" {
		el.SetAttr("name", it.Name)
	}
	for i, g := range it.Groups {
		// RFC 6121 §2.1.2.4 and §2.3.3: no empty group names, no group
		// twice.
		if strings.TrimSpace(g) == "" {
			return errors.New("client: a roster group needs a name")
		}
		if slices.Contains(it.Groups[:i], g) {
			return fmt.Errorf("client: roster group %q listed twice", g)
		}
		el.Append(stanza.New(NSRoster, "group").AppendText(g))
	}
	_, err := s.IQ(ctx, rosterSet(el))
	return err
}

// RemoveRosterItem deletes the contact j from the roster (RFC 6121 §2.5;
// seed 11-1); the server also cancels the subscriptions both ways. A
// contact that is not in the roster gives a *stanza.Error item-not-found.
func (s *Session) RemoveRosterItem(ctx context.Context, j jid.JID) error {
	if j.IsZero() {
		return errors.New("client: a roster item needs a JID")
	}
	_, err := s.IQ(ctx, rosterSet(stanza.New(NSRoster, "item").
		SetAttr("jid", j.Bare().String()).SetAttr("subscription", "remove")))
	return err
}

func rosterSet(item *stanza.Element) *stanza.Element {
	return stanza.New("", "iq").SetAttr("type", "set").Append(stanza.New(NSRoster, "query").Append(item))
}

// OnRosterPush handles roster pushes (RFC 6121 §2.1.6): f gets the new
// roster version ("" without versioning) and the item that changed, whose
// Subscription is "remove" when it was deleted; when f returns, the push
// is acknowledged with a result. A push is accepted only without a 'from'
// or from the account's bare JID: one from anybody else is a forgery
// (§2.1.6, a security requirement), is not given to f, and is answered
// with service-unavailable, as an IQ nobody handles would be. A push with
// other than exactly one item gets bad-request. Call it once per Session,
// before Roster (it panics when called twice, as HandleIQ does); f runs
// on the Session's handler goroutine and may call IQ.
func (s *Session) OnRosterPush(f func(ctx context.Context, ver string, item RosterItem)) {
	s.HandleIQ("set", stanza.Name{Space: NSRoster, Local: "query"}, func(ctx context.Context, iq *stanza.Element) (*stanza.Element, error) {
		if !s.fromOwnAccount(iq) {
			return nil, stanza.NewError(stanza.ServiceUnavailable, "")
		}
		q := iq.FirstElement()
		var items []*stanza.Element
		for el := range q.Elements() {
			if el.Name == (stanza.Name{Space: NSRoster, Local: "item"}) {
				items = append(items, el)
			}
		}
		if len(items) != 1 {
			return nil, stanza.NewError(stanza.BadRequest, "a roster push holds exactly one item")
		}
		it, err := parseRosterItem(items[0])
		if err != nil {
			return nil, stanza.NewError(stanza.BadRequest, "the item's JID is not valid")
		}
		f(ctx, q.Attr("ver"), it)
		return nil, nil
	})
}

// fromOwnAccount: the stanza has no 'from' (our server on behalf of the
// account) or comes from the account's bare JID (RFC 6121 §2.1.6).
func (s *Session) fromOwnAccount(el *stanza.Element) bool {
	if !el.HasAttr("from") {
		return true
	}
	f, err := jid.Parse(el.Attr("from"))
	return err == nil && f == s.JID().Bare()
}

// Online starts an IM session the way RFC 6121 §2.2 and seed 11-2
// recommend: it fetches the roster (Roster) and, once the server has
// answered, sends initial presence p (seed 13-1), which must be available
// presence without 'to'. It returns the roster. Register OnRosterPush
// first to hear about changes.
func (s *Session) Online(ctx context.Context, p Presence) (Roster, error) {
	if !p.To.IsZero() || p.Type != "" {
		return Roster{}, errors.New("client: initial presence is available presence without 'to'")
	}
	el, err := p.Element()
	if err != nil {
		return Roster{}, err
	}
	r, err := s.Roster(ctx)
	if err != nil {
		return Roster{}, err
	}
	return r, s.Send(el)
}

// Subscribe asks to see to's presence: presence of type subscribe to the
// bare JID of to (RFC 6121 §3.1.1; seed 12-1). With pre-approval (§3.4)
// the server may answer for the contact.
func (s *Session) Subscribe(to jid.JID) error { return s.subscription(to, "subscribe") }

// Approve lets to see the user's presence, answering its subscription
// request: presence of type subscribed (RFC 6121 §3.1.4; seed 12-2). Sent
// before any request it pre-approves one, when the server supports that
// (§3.4, the urn:xmpp:features:pre-approval stream feature).
func (s *Session) Approve(to jid.JID) error { return s.subscription(to, "subscribed") }

// Deny refuses to's pending subscription request: presence of type
// unsubscribed (RFC 6121 §3.1.4; seed 12-3).
func (s *Session) Deny(to jid.JID) error { return s.subscription(to, "unsubscribed") }

// Cancel ends to's subscription to the user's presence (or refuses its
// request): presence of type unsubscribed (RFC 6121 §3.2.1). It sends what
// Deny sends; the name says which situation the caller means.
func (s *Session) Cancel(to jid.JID) error { return s.subscription(to, "unsubscribed") }

// Unsubscribe ends the user's subscription to to's presence, or withdraws
// a request still pending: presence of type unsubscribe (RFC 6121 §3.3.1;
// seed 12-4).
func (s *Session) Unsubscribe(to jid.JID) error { return s.subscription(to, "unsubscribe") }

// subscription sends a subscription stanza; subscriptions are between
// accounts, so it goes to the bare JID (RFC 6121 §3.1.1, §3.1.4, §3.2.1,
// §3.3.1).
func (s *Session) subscription(to jid.JID, typ string) error {
	if to.IsZero() {
		return fmt.Errorf("client: %s needs an address", typ)
	}
	return s.Send(stanza.New("", "presence").SetAttr("to", to.Bare().String()).SetAttr("type", typ))
}

// Presence is an availability presence stanza (RFC 6121 §4): what
// SendPresence sends, and what ParsePresence reads from any presence.
type Presence struct {
	// From is the sender; ParsePresence sets it, the server stamps it on
	// what is sent.
	From jid.JID
	// To is the recipient of directed presence (RFC 6121 §4.6); zero
	// broadcasts to the subscribers.
	To jid.JID
	// Type is "" (available) or "unavailable" for SendPresence;
	// ParsePresence gives any type ("subscribe", "error", ...).
	Type string
	// Show is "" (plainly available), "away", "chat", "dnd" or "xa" (RFC
	// 6121 §4.7.2.1); only for available presence.
	Show string
	// Status is free text (RFC 6121 §4.7.2.2); "" for none.
	Status string
	// Priority is the resource's priority, -128 to 127 (RFC 6121
	// §4.7.2.3); 0, the default, is not sent. Only for available
	// presence.
	Priority int
	// Lang is the stanza's xml:lang (RFC 6120 §8.1.5); "" for the
	// stream's.
	Lang string
	// Error is the error of a presence of type "error" (ParsePresence).
	Error *stanza.Error
}

// Element builds the presence stanza (RFC 6121 §4.7), checking the type,
// the show value and the priority's range, so that callers can add
// extension payloads before Send.
func (p Presence) Element() (*stanza.Element, error) {
	el := stanza.New("", "presence")
	if !p.To.IsZero() {
		el.SetAttr("to", p.To.String())
	}
	switch p.Type {
	case "":
	case "unavailable":
		if p.Show != "" || p.Priority != 0 {
			return nil, errors.New("client: show and priority are for available presence")
		}
		el.SetAttr("type", "unavailable")
	default:
		return nil, fmt.Errorf("client: presence type %q is not availability (use Subscribe and the like for subscriptions)", p.Type)
	}
	if p.Lang != "" {
		el.SetAttrNS(stanza.NSXML, "lang", p.Lang)
	}
	switch p.Show {
	case "":
	case "away", "chat", "dnd", "xa":
		el.Append(stanza.New("", "show").AppendText(p.Show))
	default:
		return nil, fmt.Errorf("client: unknown show value %q (RFC 6121 §4.7.2.1: away, chat, dnd, xa)", p.Show)
	}
	if p.Status != "" {
		el.Append(stanza.New("", "status").AppendText(p.Status))
	}
	if p.Priority < -128 || p.Priority > 127 {
		return nil, fmt.Errorf("client: priority %d is outside -128..127", p.Priority)
	}
	if p.Priority != 0 {
		el.Append(stanza.New("", "priority").AppendText(strconv.Itoa(p.Priority)))
	}
	return el, nil
}

// SendPresence sends availability presence (RFC 6121 §4.2 initial
// presence and §4.4 updates, seed 13-1; §4.5 unavailable, seed 13-2),
// broadcast by the server to the subscribers when To is zero, or directed
// presence to To alone (§4.6).
func (s *Session) SendPresence(p Presence) error {
	el, err := p.Element()
	if err != nil {
		return err
	}
	return s.Send(el)
}

// Unavailable tells the subscribers the resource is going offline (RFC
// 6121 §4.5.1; seed 13-2), with an optional status.
func (s *Session) Unavailable(status string) error {
	return s.SendPresence(Presence{Type: "unavailable", Status: status})
}

// ParsePresence reads a received presence stanza (RFC 6121 §4.7). An
// address that does not parse is left zero, a priority that is not an
// integer in range is 0, and of several <status/> elements the one in the
// stanza's language (without xml:lang of its own) is chosen (§4.7.2.2).
func ParsePresence(el *stanza.Element) Presence {
	p := Presence{
		From:   parseAddr(el.Attr("from")),
		To:     parseAddr(el.Attr("to")),
		Type:   el.Attr("type"),
		Show:   strings.TrimSpace(el.ChildText("", "show")),
		Status: langText(el, "status"),
		Lang:   el.Lang(),
	}
	if n, err := strconv.Atoi(strings.TrimSpace(el.ChildText("", "priority"))); err == nil && n >= -128 && n <= 127 {
		p.Priority = n
	}
	if p.Type == "error" {
		p.Error = stanza.ParseError(el)
	}
	return p
}

// Message is a message stanza (RFC 6121 §5): what SendMessage sends, and
// what ParseMessage reads.
type Message struct {
	// ID is the stanza's id; "" sends none.
	ID string
	// From is the sender (ParseMessage; the server stamps it).
	From jid.JID
	// To is the recipient; SendMessage needs one.
	To jid.JID
	// Type is "normal", "chat", "groupchat" or "headline" (RFC 6121
	// §5.2.2; "" sends no type, which means normal). ParseMessage also
	// gives "error", and "normal" for a missing or unknown type, as §5.2.2
	// requires (seed 10.2-1).
	Type string
	// Body (seed 10.2-2), Subject and Thread (seed 10.2-3) are the
	// message's text, subject and conversation thread (RFC 6121
	// §5.2.3-5.2.5); "" for none.
	Body, Subject, Thread string
	// ThreadParent is the thread this one was forked from (the thread's
	// 'parent' attribute, RFC 6121 §5.2.5); only with Thread.
	ThreadParent string
	// Lang is the stanza's xml:lang (RFC 6120 §8.1.5); "" for the
	// stream's.
	Lang string
	// Error is the error of a message of type "error" (ParseMessage).
	Error *stanza.Error
}

// Element builds the message stanza (RFC 6121 §5), refusing a type other
// than the four a client sends, so that callers can add extension
// payloads before Send.
func (m Message) Element() (*stanza.Element, error) {
	if m.To.IsZero() {
		return nil, errors.New("client: a message needs a recipient")
	}
	el := stanza.New("", "message").SetAttr("to", m.To.String())
	switch m.Type {
	case "":
	case "normal", "chat", "groupchat", "headline":
		el.SetAttr("type", m.Type)
	case "error":
		return nil, errors.New("client: an error message answers a message (stanza.ErrorReply), it is not sent as such")
	default:
		return nil, fmt.Errorf("client: unknown message type %q (RFC 6121 §5.2.2)", m.Type)
	}
	if m.ThreadParent != "" && m.Thread == "" {
		return nil, errors.New("client: a thread parent needs a thread")
	}
	if m.ID != "" {
		el.SetAttr("id", m.ID)
	}
	if m.Lang != "" {
		el.SetAttrNS(stanza.NSXML, "lang", m.Lang)
	}
	if m.Subject != "" {
		el.Append(stanza.New("", "subject").AppendText(m.Subject))
	}
	if m.Body != "" {
		el.Append(stanza.New("", "body").AppendText(m.Body))
	}
	if m.Thread != "" {
		t := stanza.New("", "thread").AppendText(m.Thread)
		if m.ThreadParent != "" {
			t.SetAttr("parent", m.ThreadParent)
		}
		el.Append(t)
	}
	return el, nil
}

// SendMessage sends a message (RFC 6121 §5.1; seed 10.2-1..3).
func (s *Session) SendMessage(m Message) error {
	el, err := m.Element()
	if err != nil {
		return err
	}
	return s.Send(el)
}

// ParseMessage reads a received message stanza (RFC 6121 §5.2). A missing
// or unknown type is "normal" (§5.2.2); of several bodies or subjects the
// one in the stanza's language (without xml:lang of its own) is chosen
// (§5.2.3, §5.2.4); an address that does not parse is left zero.
func ParseMessage(el *stanza.Element) Message {
	m := Message{
		ID:      el.Attr("id"),
		From:    parseAddr(el.Attr("from")),
		To:      parseAddr(el.Attr("to")),
		Type:    el.Attr("type"),
		Body:    langText(el, "body"),
		Subject: langText(el, "subject"),
		Lang:    el.Lang(),
	}
	switch m.Type {
	case "normal", "chat", "groupchat", "headline":
	case "error":
		m.Error = stanza.ParseError(el)
	default:
		m.Type = "normal"
	}
	if t := el.Child("", "thread"); t != nil {
		m.Thread, m.ThreadParent = t.Text(), t.Attr("parent")
	}
	return m
}

// langText returns the text of el's child local in el's own language: the
// child without xml:lang or with el's, else the first (RFC 6121 §5.2.3).
func langText(el *stanza.Element, local string) string {
	var first *stanza.Element
	for c := range el.Elements() {
		if c.Name != (stanza.Name{Local: local}) {
			continue
		}
		if l := c.Lang(); l == "" || l == el.Lang() {
			return c.Text()
		}
		if first == nil {
			first = c
		}
	}
	if first != nil {
		return first.Text()
	}
	return ""
}

// parseAddr parses a stanza address, giving the zero JID when there is
// none or it is not valid.
func parseAddr(s string) jid.JID {
	if s == "" {
		return jid.JID{}
	}
	j, err := jid.Parse(s)
	if err != nil {
		return jid.JID{}
	}
	return j
}
