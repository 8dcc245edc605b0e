// Package private implements XEP-0049 (Private XML Storage), version 1.2
// (2004-03-01): a user stores arbitrary XML elements on the server in an IQ
// set to its own account, <query xmlns='jabber:iq:private'/> wrapping the
// elements, and reads them back with an IQ get naming them.
//
// Elements are stored per account in the "private" store, keyed by their
// qualified name (namespace and local name). A set stores or replaces each
// element it carries; one with no attributes and no content deletes the
// stored copy, which reads back the same. A get answers with the stored
// element, or with the requested element itself when nothing is stored (as
// XEP-0049 §2.3 shows).
//
// Errors (XEP-0049 §2.3, tabulated in §3):
//   - another account's private data: forbidden, which the XEP prefers to
//     service-unavailable (§4: only the owner may touch it);
//   - a query without a child element: not-acceptable, which the first
//     paragraph of §2.3 requires (its later "Bad Format" is no stanza error
//     condition in RFC 6120, and the XEP notes servers answer
//     not-acceptable);
//   - children in more than one namespace (a get names one namespace;
//     a set may carry several elements of one namespace), or two elements
//     of the same name in one set: bad-request;
//   - a reserved namespace: one starting with 'jabber:' (the content
//     namespace 'jabber:client' included) or 'http://jabber.org/', and
//     'vcard-temp': not-acceptable (optional in the XEP);
//   - an element whose serialised form is larger than private.max_bytes:
//     not-acceptable, the request does not meet the server's criteria
//     (RFC 6120 §8.3.3.9); resource-constraint (§8.3.3.18) would tell the
//     client to wait and retry the same request, which can never succeed.
package private

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage"
	"github.com/starling-xmpp/starling/xmlstream"
)

// NS is XEP-0049's namespace.
const NS = "jabber:iq:private"

// storeName is the KV store holding the elements.
const storeName = "private"

// Module is the private XML storage module.
type Module struct{}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "private" }

// Register implements module.Module.
func (Module) Register(h *module.Host) error {
	s := &service{kv: h.Store, maxBytes: h.Config.Private.MaxBytes}
	name := stanza.Name{Space: NS, Local: "query"}
	h.HandleIQ(router.ToSelf, "get", name, s.get)
	h.HandleIQ(router.ToSelf, "set", name, s.set)
	// Another user's private data (XEP-0049 §2.3): refused, and not
	// advertised as a feature of other accounts.
	h.Router.HandleIQ(router.ToAccount, "get", name, forbidden)
	h.Router.HandleIQ(router.ToAccount, "set", name, forbidden)
	return nil
}

type service struct {
	kv       storage.KV
	maxBytes int
}

func forbidden(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
	return nil, stanza.NewError(stanza.Forbidden, "private XML storage belongs to its owner only")
}

// get answers with the stored copy of each requested element, or with the
// requested element when nothing is stored.
func (s *service) get(ctx context.Context, iq *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	els, err := children(iq.FirstElement(), false)
	if err != nil {
		return nil, err
	}
	res := stanza.New(NS, "query")
	for _, el := range els {
		data, err := s.kv.Get(ctx, from.Domain(), from.Local(), storeName, key(el.Name))
		switch {
		case errors.Is(err, storage.ErrNotFound):
			res.Append(el.Copy())
			continue
		case err != nil:
			return nil, fmt.Errorf("private: load: %w", err)
		}
		stored, err := xmlstream.ParseStored(data)
		if err != nil {
			return nil, fmt.Errorf("private: stored element unreadable: %w", err)
		}
		res.Append(stored)
	}
	return res, nil
}

// set stores every element of the query, after checking them all.
func (s *service) set(ctx context.Context, iq *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	els, err := children(iq.FirstElement(), true)
	if err != nil {
		return nil, err
	}
	data := make([][]byte, len(els))
	for i, el := range els {
		data[i] = el.AppendXML(nil, stanza.NSClient)
		if len(data[i]) > s.maxBytes {
			return nil, stanza.NewError(stanza.NotAcceptable,
				fmt.Sprintf("stored elements are limited to %d bytes", s.maxBytes))
		}
	}
	for i, el := range els {
		k := key(el.Name)
		if len(el.Attrs) == 0 && len(el.Children) == 0 {
			err = s.kv.Delete(ctx, from.Domain(), from.Local(), storeName, k)
		} else {
			err = s.kv.Put(ctx, from.Domain(), from.Local(), storeName, k, data[i])
		}
		if err != nil {
			return nil, fmt.Errorf("private: store: %w", err)
		}
	}
	return nil, nil
}

// children returns the child elements of a query, checking the rules of
// XEP-0049 §2.3. With set, two elements of the same name are refused:
// they would be stored under the same key.
func children(q *stanza.Element, set bool) ([]*stanza.Element, error) {
	var els []*stanza.Element
	for el := range q.Elements() {
		els = append(els, el)
	}
	if len(els) == 0 {
		return nil, stanza.NewError(stanza.NotAcceptable, "the query must contain an element to store or retrieve")
	}
	ns := els[0].Name.Space
	if reserved(ns) {
		return nil, stanza.NewError(stanza.NotAcceptable, "the namespace is reserved")
	}
	seen := map[string]bool{}
	for _, el := range els {
		if el.Name.Space != ns {
			return nil, stanza.NewError(stanza.BadRequest, "the query's elements must share one namespace")
		}
		k := el.Name.Local
		if set && seen[k] {
			return nil, stanza.NewError(stanza.BadRequest, "the query contains two elements of the same name")
		}
		seen[k] = true
	}
	return els, nil
}

// reserved reports whether ns is reserved (XEP-0049 §2.3). The empty Space is
// the stream's content namespace, 'jabber:client'.
func reserved(ns string) bool {
	return ns == "" || ns == "vcard-temp" ||
		strings.HasPrefix(ns, "jabber:") || strings.HasPrefix(ns, "http://jabber.org/")
}

// key is the storage key of an element: its name in Clark notation.
func key(n stanza.Name) string {
	return "{" + n.Space + "}" + n.Local
}
