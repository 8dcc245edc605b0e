package xmlstream

// corpus holds realistic stanzas (client namespace, as sent by clients and
// servers), used by the round-trip tests, as fuzz seeds and for benchmarks.
var corpus = []string{
	// RFC 6121 messages.
	`<message from='juliet@example.com/balcony' id='ktx72v49' to='romeo@example.net' type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>`,
	`<message from='juliet@example.com/balcony' to='romeo@example.net/orchard' type='chat' id='m2'><subject>I implore you!</subject><subject xml:lang='cs'>&#x00DA;p&#x011B;nliv&#x011B; pros&#x00ED;m!</subject><body>Wherefore art thou, Romeo?</body><body xml:lang='cs'>Pro&#x010D;e&#x017D; jsi ty, Romeo?</body><thread parent='7edac73ab41e45c4aafa7b2d7b749080'>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>`,
	`<message to='romeo@example.net' id='x1' type='chat'><body>I'll &lt;b&gt;never&lt;/b&gt; say "goodbye" &amp; mean it — ça va? 😀</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/><origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546014'/></message>`,
	`<message from='romeo@example.net/orchard' to='juliet@example.com' id='r1'><received xmlns='urn:xmpp:receipts' id='ktx72v49'/></message>`,
	`<message to='juliet@example.com' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`,
	// XHTML-IM mixed content.
	`<message to='juliet@example.com' type='chat' id='h1'><body>Wow, I'm green with envy!</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p style='font-size:large'><em>Wow</em>, I&apos;m <span style='color:green'>green</span> with <strong>envy</strong>!</p><p>A <a href='http://example.org/?a=1&amp;b=2'>link</a><br/>and an <img alt='A Cool Image' src='http://example.org/cool.png' height='25' width='25'/>.</p></body></html></message>`,
	// Presence with caps, delay, MUC.
	`<presence from='romeo@example.net/orchard' xml:lang='en'><show>dnd</show><status>Wooing Juliet</status><status xml:lang='cs'>Dvo&#x0159;&#x00ED;m se Julii</status><priority>1</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`,
	`<presence/>`,
	`<presence type='unavailable'/>`,
	`<presence to='coven@chat.shakespeare.lit/thirdwitch' id='n13mt3l'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='20'/><password>cauldronburn</password></x></presence>`,
	`<presence from='coven@chat.shakespeare.lit/firstwitch' to='hag66@shakespeare.lit/pda' id='26'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator' jid='crone1@shakespeare.lit/desktop'/><status code='110'/></x><delay xmlns='urn:xmpp:delay' from='coven@chat.shakespeare.lit' stamp='2002-09-10T23:08:25Z'/></presence>`,
	`<presence to='contact@example.org' type='subscribe' id='sub1'><nick xmlns='http://jabber.org/protocol/nick'>Ishmael</nick></presence>`,
	// Roster and other IQs.
	`<iq from='juliet@example.com/balcony' id='bv1bs71f' type='get'><query xmlns='jabber:iq:roster' ver='ver7'/></iq>`,
	`<iq id='bv1bs71f' to='juliet@example.com/chamber' type='result'><query xmlns='jabber:iq:roster' ver='ver11'><item jid='romeo@example.net' name='Romeo' subscription='both'><group>Friends</group></item><item jid='mercutio@example.com' name='Mercutio' subscription='from'/><item jid='benvolio@example.net' name='Benvolio &quot;Ben&quot; O&apos;Brien' subscription='both' ask='subscribe'><group>Friends</group><group>Montagues</group></item></query></iq>`,
	`<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>`,
	`<iq type='get' id='ping1' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>`,
	`<iq type='result' id='disco1' from='example.com'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im' name='Starling'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='urn:xmpp:ping'/><feature var='jabber:iq:roster'/><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/network/serverinfo</value></field><field var='abuse-addresses'><value>mailto:abuse@example.com</value></field></x></query></iq>`,
	`<iq type='error' id='e1' from='example.com'><ping xmlns='urn:xmpp:ping'/><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>Not here &lt;sorry&gt;</text></error></iq>`,
	// Namespaced attributes, multiple namespaces, prefixes.
	`<iq type='set' id='pub1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='12345' height='64' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' type='image/png' width='64'/></metadata></item></publish></pubsub></iq>`,
	`<message id='ns1'><x:data xmlns:x='urn:example:x' xmlns:y='urn:example:y' y:kind='a' x:kind='b' kind='c'><y:inner>text<x:leaf y:attr='v'/>tail</y:inner></x:data></message>`,
	// Stream-level elements.
	`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
	`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==</auth>`,
	`<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>bad &amp; worse</text></stream:error>`,
	// Entities, char refs, CDATA, white space.
	`<message id='ents'><body>&amp;&lt;&gt;&quot;&apos; &#9;&#xA;&#xD;&#x20;&#12354;&#x1D11E; <![CDATA[<raw> & stuff]]> end</body><x xmlns='urn:t' v='tab&#9;nl&#10;cr&#13;' w='  spaced  out  '/></message>`,
	"<message id='ws'>\n  <body>\n    indented\n  </body>\n</message>",
	`<message id='intl' to='ñandú@example.com/Ωmega' xml:lang='ja'><body>こんにちは、世界。Привет! مرحبا שלום</body></message>`,
}
