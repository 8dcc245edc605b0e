// @xmpp/client over WebSocket: log in, become available, send text to the
// peer, and wait for the peer's answer. Prints one line per step; exits 0
// only when the answer came.
import { bare, chatArgs, deadline, load } from './common.mjs';

const who = 'xmppjs';
const { url, jid, password, peer, text } = chatArgs(who);
deadline(who, 30000);
const { client, xml } = await load('@xmpp/client');

const [username, domain] = bare(jid).split('@');
const xmpp = client({ service: url, domain, username, password, resource: 'xmppjs' });
xmpp.on('error', (err) => console.log(`${who}: error: ${err.message}`));

xmpp.on('stanza', async (st) => {
  if (!st.is('message') || bare(st.attrs.from) !== peer) {
    return;
  }
  const body = st.getChildText('body');
  if (body === null) {
    return;
  }
  console.log(`${who}: received '${body}' from ${st.attrs.from}`);
  await xmpp.stop();
  process.exit(0);
});

xmpp.on('online', async (address) => {
  console.log(`${who}: logged in as ${address.toString()} over ${url}`);
  await xmpp.send(xml('presence'));
  await xmpp.send(xml('message', { type: 'chat', to: peer }, xml('body', {}, text)));
  console.log(`${who}: sent '${text}' to ${peer}`);
});

await xmpp.start();
