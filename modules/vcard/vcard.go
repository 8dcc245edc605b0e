// Package vcard implements XEP-0054 (vcard-temp), version 1.3.0
// (2024-06-27): users store their vCard on the server and anyone can read
// it, the server answering on the owner's behalf.
//
// A user's vCard is kept whole, serialised, in the "vcard" store of its
// account; a set replaces it (there are no partial updates, §3.2), and a set
// whose vCard has no child elements deletes it. The answers:
//   - get on one's own account: the stored vCard, or an empty <vCard/> when
//     there is none (§3.1 allows it or item-not-found; the empty result is
//     what a client about to edit its vCard needs, and is no error);
//   - get on another account's bare JID: the stored vCard, or
//     service-unavailable when there is none, the condition the router
//     already gives for an account that does not exist, so the two cannot
//     be told apart (§3.3, changed in 1.3.0 from item-not-found);
//   - set on another account or on the server: forbidden (§3.2: forbidden
//     or not-allowed; the XEP's example shows forbidden);
//   - a vCard whose serialised form (PHOTO included) is larger than
//     vcard.max_bytes: not-acceptable, the request does not meet the
//     server's criteria and the client has to change it, for instance with
//     a smaller photo (RFC 6120 §8.3.3.9); resource-constraint (§8.3.3.18)
//     would tell the client to wait and retry the same vCard, which can
//     never succeed.
//
// The server advertises 'vcard-temp' in its own disco#info (§4) as well as
// on accounts.
package vcard

import (
	"context"
	"errors"
	"fmt"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage"
	"github.com/starling-xmpp/starling/xmlstream"
)

// NS is XEP-0054's namespace.
const NS = "vcard-temp"

const (
	storeName = "vcard" // the KV store
	storeKey  = "vcard" // the one key in it
)

// Module is the vcard-temp module.
type Module struct{}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "vcard" }

// Register implements module.Module.
func (Module) Register(h *module.Host) error {
	s := &service{kv: h.Store, maxBytes: h.Config.VCard.MaxBytes}
	name := stanza.Name{Space: NS, Local: "vCard"}
	h.HandleIQ(router.ToSelf, "get", name, s.getOwn)
	h.HandleIQ(router.ToSelf, "set", name, s.set)
	h.HandleIQ(router.ToAccount, "get", name, s.getOther)
	// Refusals are not features: registered with the router directly.
	h.Router.HandleIQ(router.ToAccount, "set", name, forbidden)
	h.Router.HandleIQ(router.ToHost, "set", name, forbidden)
	h.AddFeature(router.ToHost, NS)
	return nil
}

type service struct {
	kv       storage.KV
	maxBytes int
}

func forbidden(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
	return nil, stanza.NewError(stanza.Forbidden, "only the owner can change a vCard")
}

// getOwn answers the requester's own vCard, empty when there is none.
func (s *service) getOwn(ctx context.Context, _ *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	v, err := s.load(ctx, from)
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.New(NS, "vCard"), nil
	}
	return v, err
}

// getOther answers another account's vCard.
func (s *service) getOther(ctx context.Context, _ *stanza.Element, _, to jid.JID) (*stanza.Element, error) {
	v, err := s.load(ctx, to)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return v, err
}

// set replaces the requester's vCard.
func (s *service) set(ctx context.Context, iq *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	v := iq.FirstElement()
	if v.NumElements() == 0 {
		if err := s.kv.Delete(ctx, from.Domain(), from.Local(), storeName, storeKey); err != nil {
			return nil, fmt.Errorf("vcard: delete: %w", err)
		}
		return nil, nil
	}
	data := v.AppendXML(nil, stanza.NSClient)
	if len(data) > s.maxBytes {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("vCards are limited to %d bytes", s.maxBytes))
	}
	if err := s.kv.Put(ctx, from.Domain(), from.Local(), storeName, storeKey, data); err != nil {
		return nil, fmt.Errorf("vcard: store: %w", err)
	}
	return nil, nil
}

// load returns the stored vCard of user's account, or storage.ErrNotFound.
func (s *service) load(ctx context.Context, user jid.JID) (*stanza.Element, error) {
	data, err := s.kv.Get(ctx, user.Domain(), user.Local(), storeName, storeKey)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("vcard: load: %w", err)
	}
	v, err := xmlstream.ParseStored(data)
	if err != nil {
		return nil, fmt.Errorf("vcard: stored vCard unreadable: %w", err)
	}
	return v, nil
}
