// StanzaJS over WebSocket: log in, become available, send text to the
// peer, and wait for the peer's answer. Prints one line per step; exits 0
// only when the answer came.
import { bare, chatArgs, deadline, load } from './common.mjs';

const who = 'stanza';
const { url, jid, password, peer, text } = chatArgs(who);
deadline(who, 30000);
const XMPP = await load('stanza');
const createClient = XMPP.createClient ?? XMPP.default.createClient;

const client = createClient({
  jid,
  password,
  resource: 'stanza',
  transports: { websocket: url, bosh: false },
});
client.on('auth:failed', () => {
  console.log(`${who}: authentication failed`);
  process.exit(1);
});
client.on('stream:error', (err) => console.log(`${who}: stream error ${JSON.stringify(err)}`));

client.on('session:started', () => {
  console.log(`${who}: logged in as ${client.jid} over ${url}`);
  client.sendPresence();
  client.sendMessage({ type: 'chat', to: peer, body: text });
  console.log(`${who}: sent '${text}' to ${peer}`);
});

client.on('chat', (msg) => {
  if (bare(msg.from) !== peer || !msg.body) {
    return;
  }
  console.log(`${who}: received '${msg.body}' from ${msg.from}`);
  client.disconnect();
  setTimeout(() => process.exit(0), 200);
});

client.connect();
