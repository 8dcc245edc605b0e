package disco

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// Namespaces and names of XEP-0030 and XEP-0115.
const (
	// NSInfo is XEP-0030's namespace for identities and features.
	NSInfo = "http://jabber.org/protocol/disco#info"
	// NSItems is XEP-0030's namespace for items.
	NSItems = "http://jabber.org/protocol/disco#items"
	// NSCaps is XEP-0115's namespace.
	NSCaps = "http://jabber.org/protocol/caps"
	// CapsNode is the 'node' of the server's entity capabilities
	// (XEP-0115 §4): a URI that identifies the software.
	CapsNode = "https://github.com/starling-xmpp/starling"
)

// The identities this module registers (XEP-0030 §3.1 and the registry
// of identities): the server is an IM server, every account a registered
// account.
var (
	serverIdentity  = module.Identity{Category: "server", Type: "im", Name: "Starling"}
	accountIdentity = module.Identity{Category: "account", Type: "registered"}
)

// Module is the service discovery module.
type Module struct{}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "disco" }

// Register implements module.Module.
func (Module) Register(h *module.Host) error {
	s := &service{h: h}
	h.AddIdentity(router.ToHost, serverIdentity)
	h.AddIdentity(router.ToAccount, accountIdentity)
	// XEP-0115 §7: an entity that publishes capabilities advertises the
	// caps feature.
	h.AddFeature(router.ToHost, NSCaps)
	info := stanza.Name{Space: NSInfo, Local: "query"}
	items := stanza.Name{Space: NSItems, Local: "query"}
	h.HandleIQ(router.ToHost, "get", info, s.hostInfo)
	h.HandleIQ(router.ToHost, "get", items, s.hostItems)
	// ToSelf falls back to these (router.ToSelf), with self set.
	h.HandleIQ(router.ToAccount, "get", info, s.accountInfo)
	h.HandleIQ(router.ToAccount, "get", items, s.accountItems)
	h.AddStreamFeature(s.streamFeature)
	return nil
}

// service answers for one Host.
type service struct {
	h *module.Host

	once sync.Once
	ver  string
}

// capsVer returns the server's verification string, computed the first
// time it is needed: by then every module has registered (they all do
// before the server accepts a connection), so it never changes.
func (s *service) capsVer() string {
	s.once.Do(func() {
		var ids []capsIdentity
		for _, id := range s.h.Identities(router.ToHost) {
			ids = append(ids, capsIdentity{Category: id.Category, Type: id.Type, Name: id.Name})
		}
		s.ver = capsVer(ids, s.h.Features(router.ToHost), nil)
	})
	return s.ver
}

// streamFeature offers the server's capabilities (XEP-0115 §6.3) before
// and after authentication.
func (s *service) streamFeature(c2s.StreamInfo) *stanza.Element {
	return stanza.New(NSCaps, "c").
		SetAttr("hash", "sha-1").
		SetAttr("node", CapsNode).
		SetAttr("ver", s.capsVer())
}

// hostInfo answers disco#info for the server. The only node it knows is
// its capabilities node, NODE#VER, which XEP-0115 §6.2 says is answered
// exactly like the query without a node.
func (s *service) hostInfo(_ context.Context, iq *stanza.Element, _, _ jid.JID) (*stanza.Element, error) {
	node := iq.FirstElement().Attr("node")
	if node != "" && node != CapsNode+"#"+s.capsVer() {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	return infoResult(node, s.h.Identities(router.ToHost), s.h.Features(router.ToHost)), nil
}

// hostItems answers disco#items for the server: no items yet.
func (s *service) hostItems(_ context.Context, iq *stanza.Element, _, _ jid.JID) (*stanza.Element, error) {
	if iq.FirstElement().Attr("node") != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	return stanza.New(NSItems, "query"), nil
}

// accountInfo answers disco#info for an account's bare JID on its behalf.
func (s *service) accountInfo(ctx context.Context, iq *stanza.Element, from, to jid.JID) (*stanza.Element, error) {
	self, err := s.authorize(ctx, from, to)
	if err != nil {
		return nil, err
	}
	if iq.FirstElement().Attr("node") != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	ids, features := s.h.Identities(router.ToAccount), s.h.Features(router.ToAccount)
	if self {
		ids = append(ids, s.h.Identities(router.ToSelf)...)
		features = append(features, s.h.Features(router.ToSelf)...)
		slices.Sort(features)
		features = slices.Compact(features)
	}
	return infoResult("", ids, features), nil
}

// accountItems answers disco#items for an account's bare JID: its
// resources (XEP-0030 §4.1): every bound one for the account itself, the
// available ones (those its presence went to) for a contact.
func (s *service) accountItems(ctx context.Context, iq *stanza.Element, from, to jid.JID) (*stanza.Element, error) {
	self, err := s.authorize(ctx, from, to)
	if err != nil {
		return nil, err
	}
	if iq.FirstElement().Attr("node") != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	var jids []string
	for _, sess := range s.h.Router.Sessions(to) {
		if self || sess.Available() {
			jids = append(jids, sess.JID.String())
		}
	}
	slices.Sort(jids)
	q := stanza.New(NSItems, "query")
	for _, j := range jids {
		q.Append(stanza.New(NSItems, "item").SetAttr("jid", j))
	}
	return q, nil
}

// authorize decides whether from may see account to (XEP-0030 §8): the
// account itself, or an entity it has granted a presence subscription
// ("from" or "both"). Anyone else gets service-unavailable, the answer
// for an account that does not exist.
func (s *service) authorize(ctx context.Context, from, to jid.JID) (self bool, err error) {
	if from.Bare() == to.Bare() {
		return true, nil
	}
	subscribed, _, err := s.h.Subscription(ctx, to.Bare(), from.Bare())
	if err != nil {
		return false, fmt.Errorf("disco: subscription of %s: %w", to.Bare(), err)
	}
	if !subscribed {
		return false, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return false, nil
}

// infoResult builds a disco#info result (XEP-0030 §3.1), echoing node.
func infoResult(node string, ids []module.Identity, features []string) *stanza.Element {
	q := stanza.New(NSInfo, "query")
	if node != "" {
		q.SetAttr("node", node)
	}
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b module.Identity) int {
		return cmp.Or(strings.Compare(a.Category, b.Category), strings.Compare(a.Type, b.Type), strings.Compare(a.Name, b.Name))
	})
	for _, id := range ids {
		el := stanza.New(NSInfo, "identity").SetAttr("category", id.Category).SetAttr("type", id.Type)
		if id.Name != "" {
			el.SetAttr("name", id.Name)
		}
		q.Append(el)
	}
	for _, f := range features {
		q.Append(stanza.New(NSInfo, "feature").SetAttr("var", f))
	}
	return q
}
