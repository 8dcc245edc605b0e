// Converse.js in headless Chromium, driven as a person would: open
// Starling's chat page, log in through the form, open the chat with the
// peer from the contact list, send text, and wait until the peer's answer
// shows in the page; then take a screenshot. Prints one line per step;
// exits 0 only when the answer showed.
//
// usage: converse_chat.mjs chromium page-url username password peer text answer screenshot
import { deadline, require } from './common.mjs';

const who = 'converse';
const [chromiumPath, pageURL, username, password, peer, text, answer, shot] = process.argv.slice(2);
if (!shot) {
  console.error(`usage: ${who} chromium page-url username password peer text answer screenshot`);
  process.exit(2);
}
deadline(who, 90000);
const { chromium } = require('playwright-core');

const step = 30000;
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  timeout: step,
});
console.log(`${who}: Chromium ${browser.version()}`);
let ok = false;
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.setDefaultTimeout(step);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      console.log(`${who}: page ${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => console.log(`${who}: page exception: ${e.message}`));
  page.on('requestfailed', (r) => console.log(`${who}: request failed: ${r.url()} ${r.failure()?.errorText}`));

  const resp = await page.goto(pageURL);
  console.log(`${who}: opened ${pageURL}: ${resp.status()} ${await page.title()}`);

  await page.locator('#converse-login-jid').fill(username);
  await page.locator('#converse-login-password').fill(password);
  await page.locator('#converse-login button[type=submit]').click();
  // Logged in: the contact list shows the peer.
  const contact = page.locator('a.open-chat', { hasText: peer.split('@')[0] }).first();
  await contact.waitFor();
  console.log(`${who}: logged in as ${username}; ${peer} is in the contact list`);

  await contact.click();
  const textarea = page.locator('textarea.chat-textarea').first();
  await textarea.fill(text);
  await textarea.press('Enter');
  console.log(`${who}: sent '${text}' to ${peer}`);

  await page.locator('.chat-msg__text', { hasText: answer }).first().waitFor();
  console.log(`${who}: the page shows '${answer}' from ${peer}`);
  await page.screenshot({ path: shot });
  console.log(`${who}: screenshot ${shot}`);
  ok = true;
} catch (e) {
  console.log(`${who}: ${e.message}`);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages.length) {
      await pages[0].screenshot({ path: shot, timeout: 5000 });
      console.log(`${who}: screenshot of the failure ${shot}`);
    }
  } catch {}
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
