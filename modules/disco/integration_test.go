package disco_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/modules/disco"
	"github.com/starling-xmpp/starling/stanza"
)

// probes are requests for every namespace Starling's modules answer (or
// may); a module that is not there gets service-unavailable and is not
// checked.
var probes = []struct {
	self    bool // to the requester's own account, else to the server
	payload string
}{
	{false, "<query xmlns='http://jabber.org/protocol/disco#info'/>"},
	{false, "<query xmlns='http://jabber.org/protocol/disco#items'/>"},
	{false, "<ping xmlns='urn:xmpp:ping'/>"},
	{false, "<query xmlns='jabber:iq:version'/>"},
	{false, "<time xmlns='urn:xmpp:time'/>"},
	{false, "<query xmlns='jabber:iq:last'/>"},
	{false, "<vCard xmlns='vcard-temp'/>"},
	{true, "<query xmlns='http://jabber.org/protocol/disco#info'/>"},
	{true, "<query xmlns='http://jabber.org/protocol/disco#items'/>"},
	{true, "<ping xmlns='urn:xmpp:ping'/>"},
	{true, "<query xmlns='jabber:iq:last'/>"},
	{true, "<query xmlns='jabber:iq:roster'/>"},
	{true, "<vCard xmlns='vcard-temp'/>"},
	{true, "<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query>"},
	{true, "<blocklist xmlns='urn:xmpp:blocking'/>"},
}

func request(t *testing.T, c *client.Session, xml string) *stanza.Element {
	t.Helper()
	if err := c.SendRaw([]byte(xml)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		el, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for the answer to %s: %v", xml, err)
		}
		if el.Name.Local == "iq" && el.Attr("id") == "probe" {
			return el
		}
	}
}

// info returns the identities (as XEP-0115 formats them, without the
// '<') and features of a disco#info result.
func info(t *testing.T, reply *stanza.Element) (ids, features []string) {
	t.Helper()
	q := reply.Child(disco.NSInfo, "query")
	if reply.Attr("type") != "result" || q == nil {
		t.Fatalf("disco#info failed: %s", reply)
	}
	for c := range q.Elements() {
		switch c.Name.Local {
		case "identity":
			ids = append(ids, c.Attr("category")+"/"+c.Attr("type")+"/"+c.AttrNS(stanza.NSXML, "lang")+"/"+c.Attr("name"))
		case "feature":
			features = append(features, c.Attr("var"))
		}
	}
	return ids, features
}

// ver is XEP-0115 §5.1 for answers without forms, written again here so
// that the module's implementation is checked against a second one.
func ver(ids, features []string) string {
	ids, features = slices.Clone(ids), slices.Clone(features)
	sort.Strings(ids) // fine for these identities: no '-' or '.' in categories
	sort.Strings(features)
	s := ""
	for _, x := range append(ids, features...) {
		s += x + "<"
	}
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// On a server with the default modules, every namespace that is answered
// is advertised, for the server and for the user's own account, and the
// capabilities in the stream features are the hash of the server's
// disco#info answer, which its caps node answers too.
func TestEverythingAnsweredIsAdvertised(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	alice := srv.Login(t, "alice@localhost/a", "pw")

	hostIDs, hostFeatures := info(t, request(t, alice, "<iq type='get' id='probe' to='localhost'><query xmlns='"+disco.NSInfo+"'/></iq>"))
	_, selfFeatures := info(t, request(t, alice, "<iq type='get' id='probe'><query xmlns='"+disco.NSInfo+"'/></iq>"))
	if !slices.Contains(hostIDs, "server/im//Starling") {
		t.Errorf("server identities %v", hostIDs)
	}
	answered := 0
	for _, p := range probes {
		to, features := " to='localhost'", hostFeatures
		if p.self {
			to, features = "", selfFeatures
		}
		reply := request(t, alice, "<iq type='get' id='probe'"+to+">"+p.payload+"</iq>")
		if e := stanza.ParseError(reply); e != nil && e.Condition == stanza.ServiceUnavailable {
			continue
		}
		answered++
		space := strings.Split(strings.Split(p.payload, "xmlns='")[1], "'")[0]
		if !slices.Contains(features, space) {
			t.Errorf("self=%v: %s is answered (%s) but not advertised: %v", p.self, space, reply.Attr("type"), features)
		}
	}
	if answered < 10 {
		t.Errorf("only %d probes answered", answered)
	}

	c := alice.Features().Child(disco.NSCaps, "c")
	if c == nil {
		t.Fatalf("no caps in the stream features: %s", alice.Features())
	}
	want := ver(hostIDs, hostFeatures)
	if c.Attr("hash") != "sha-1" || c.Attr("node") != disco.CapsNode || c.Attr("ver") != want {
		t.Errorf("caps %s, want ver %s", c, want)
	}
	node := disco.CapsNode + "#" + c.Attr("ver")
	reply := request(t, alice, "<iq type='get' id='probe' to='localhost'><query xmlns='"+disco.NSInfo+"' node='"+node+"'/></iq>")
	ids, features := info(t, reply)
	if got := reply.FirstElement().Attr("node"); got != node {
		t.Errorf("node %q not mirrored: %s", node, reply)
	}
	if !slices.Equal(ids, hostIDs) || !slices.Equal(features, hostFeatures) {
		t.Errorf("caps node answers %v %v, the server %v %v", ids, features, hostIDs, hostFeatures)
	}
}
