// Shared by the web client scripts: where the npm packages are, and the
// arguments every chat script takes.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.STARLING_WEB_PACKAGES;
if (!dir) {
  console.error('STARLING_WEB_PACKAGES is not set');
  process.exit(2);
}
export const require = createRequire(join(dir, 'package.json'));

// load imports an npm package (CommonJS or ES module) from that directory.
export async function load(name) {
  return import(pathToFileURL(require.resolve(name)).href);
}

// chatArgs: websocket-url jid password peer text
export function chatArgs(who) {
  const [url, jid, password, peer, text] = process.argv.slice(2);
  if (!text) {
    console.error(`usage: ${who} websocket-url jid password peer text`);
    process.exit(2);
  }
  return { url, jid, password, peer, text };
}

// deadline ends the process with a failure after ms.
export function deadline(who, ms) {
  setTimeout(() => {
    console.log(`${who}: timed out after ${ms} ms`);
    process.exit(1);
  }, ms).unref();
}

export function bare(jid) {
  return String(jid).split('/')[0];
}
