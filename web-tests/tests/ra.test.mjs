// The RA console in Chromium: approve a pending request, deny one with a reason, issue a PIN
// letter and download its PDF, unlock a card, and find each in the audit log. Screenshots of
// the dashboard and the queue.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createHmac } from 'node:crypto';
import { admin, apiRequest, carecertBin, freePort, launchBrowser, screenshot, startServer } from '../lib/harness.mjs';
import { enrolWorkstation, issueCard, lockCard, softhsm, startAgent } from '../lib/cards.mjs';

let server, browser, card, secret, hsm, agentPort;

/** RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret — what an authenticator app shows. */
function totp(base32, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor((Date.now() / 1000 + offset) / 30)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
const ids = [];

function ecmt(args, env = {}) {
  const bin = join(dirname(carecertBin()), 'ecmt');
  const store = join(server.dataDir, 'ecmt-store');
  return execFileSync(bin, ['--server', server.https, '--ca-file', server.rootPem, '--store', store, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  }).toString();
}

before(async () => {
  agentPort = await freePort();
  server = await startServer({ name: 'ra', extraArgs: ['--agent-url', `http://127.0.0.1:${agentPort}`] });
  browser = await launchBrowser({ server });
  const r = await apiRequest(server, '/api/v1/admin/web-accounts', {
    method: 'POST', token: true, body: { username: 'alice', name: 'Alice RA', roles: ['operator'], password: 'correct horse battery' },
  });
  assert.equal(r.status, 201, r.text);
  secret = r.json().totp_secret;
  assert.match(r.json().totp_uri, /^otpauth:\/\/totp\//);
  await admin(server, ['org', 'add', '--epoc', '8880001', '--name', 'Station Pharmacy', '--approval', 'ra-queue']);
  const pin = JSON.parse(await admin(server, ['--json', 'pin', 'issue', '--epoc', '8880001'])).pin;
  ecmt(['login', '--epoc', '8880001'], { ECMT_PIN: pin });
  for (let i = 0; i < 2; i++) ids.push(JSON.parse(ecmt(['--json', 'request', '--accept-policy'])).id);
  // A locked card: issued at the "RA desk", then three wrong passcodes typed through the
  // agent on an enrolled workstation (unauthenticated reports no longer lock cards).
  hsm = softhsm(server);
  await admin(server, ['user', 'add', '--uid', '55', '--name', 'Dr Locked', '--organisation', 'RA1']);
  card = issueCard(server, hsm, '55', '555555');
  lockCard(server, hsm, card.serial, await enrolWorkstation(server, '8880009'));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the RA walks the console: approve, deny, PIN letter PDF, unlock, audit', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/ra/`);
  await page.waitForURL('**/ra/login**');
  await page.fill('input[name=username]', 'alice');
  await page.fill('input[name=password]', 'correct horse battery');
  await page.fill('input[name=code]', '000000');
  await page.click('form[action="/ra/login"] button');
  await page.waitForURL('**/ra/login?msg=**');
  assert.match(await page.textContent('[role=alert]'), /authenticator/);
  await page.fill('input[name=username]', 'alice');
  await page.fill('input[name=password]', 'correct horse battery');
  await page.fill('input[name=code]', totp(secret));
  await page.click('form[action="/ra/login"] button');
  await page.waitForURL('**/ra/');
  assert.match(await page.textContent('#pending'), /2/);
  assert.match(await page.textContent('#locked'), /1/);
  assert.equal(await page.locator('#expiry-chart rect').count(), 52);
  await screenshot(page, 'ra-dashboard');

  await page.click('a[href="/ra/requests"]');
  await page.waitForURL('**/ra/requests');
  await screenshot(page, 'ra-queue');
  await page.click(`#request-${ids[0]} form[action$="/approve"] button`);
  await page.waitForURL('**/ra/requests?done=**');
  assert.match(await page.textContent('[role=status]'), new RegExp(`Request ${ids[0]} approved`));
  await page.fill(`#request-${ids[1]} input[name=reason]`, 'system not on the register');
  await page.click(`#request-${ids[1]} form[action$="/deny"] button`);
  await page.waitForURL('**/ra/requests?done=**');
  assert.match(await page.textContent('[role=status]'), new RegExp(`Request ${ids[1]} denied`));
  assert.equal(await page.locator('table').count(), 0, 'the queue is empty');

  await page.click('a[href="/ra/orgs"]');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#org-8880001 button'),
  ]);
  assert.equal(download.suggestedFilename(), 'pin-letter-8880001.pdf');
  const pdf = readFileSync(await download.path());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');

  await page.goto(`${server.https}/ra/cards?serial=${card.serial}`);
  assert.equal((await page.textContent('#card-status')).trim(), 'locked');
  await page.fill('input[name=documents]', 'passport 123456');
  await page.click('form[action$="/unlock"] button');
  assert.match(await page.textContent('[role=status]'), /is unlocked/);
  assert.match(await page.textContent('#so-pin'), /^[0-9a-f]{24}$/);

  await page.click('a[href="/ra/audit"]');
  const audit = await page.textContent('main');
  assert.match(audit, /Chain verified/);
  for (const action of ['request.approved', 'request.denied', 'pin.issued', 'card.unlocked']) assert.match(audit, new RegExp(action.replace('.', '\\.')));
  assert.match(audit, /ca-admin:alice/, "the audit names the person (an operator account is a ca-admin)");
});

test('certificates found by organisation and revoked; releases, people, sponsors; audit search', async () => {
  const page = await browser.context.newPage(); // logged in by the test above (same context)
  await page.goto(`${server.https}/ra/certificates?q=8880001`);
  const row = page.locator('tbody tr').first();
  assert.match(await row.textContent(), /EPOC 8880001/);
  await row.locator('select[name=reason]').selectOption('keyCompromise');
  await row.locator('button').click();
  await page.waitForURL('**/ra/certificates?**done=**');
  assert.match(await page.textContent('[role=status]'), /revoked \(keyCompromise\)/);

  await page.goto(`${server.https}/ra/releases`);
  await page.fill('input[name=version]', '2.0.0');
  await page.check('input[name=minimum]');
  await page.fill('input[name=url]', 'https://downloads.example/ecmt-2.0.0');
  await page.fill('input[name=sha256]', 'ab'.repeat(32));
  await page.click('form[action="/ra/releases"] button');
  assert.match(await page.textContent('[role=status]'), /Registered ecmt 2.0.0/);

  await page.goto(`${server.https}/ra/users`);
  await page.fill('#register-user input[name=uid]', '77');
  await page.fill('#register-user input[name=name]', 'Sam Sponsor');
  await page.fill('#register-user input[name=organisation]', 'RA1');
  await page.click('#register-user button');
  await page.waitForURL('**/ra/users?uid=77**');
  assert.match(await page.textContent('#user'), /Sam Sponsor/);
  await page.fill('form[action="/ra/sponsors"] input[name=organisation]', 'RA1');
  await page.click('form[action="/ra/sponsors"] button');
  assert.match(await page.textContent('[role=status]'), /may now unlock cards of RA1/);

  await page.goto(`${server.https}/ra/audit?q=sponsor`);
  const audit = await page.textContent('tbody');
  assert.match(audit, /sponsor\.granted/);
  assert.doesNotMatch(audit, /request\.approved/, 'the search filters');
});

test('RA staff log in to the console with their smartcard', async () => {
  await admin(server, ['user', 'add', '--uid', '66', '--name', 'Rob Registration', '--organisation', 'RA1']);
  await admin(server, ['account', 'add', '--username', 'rob', '--name', 'Rob Registration', '--uid', '66', '--role', 'ra']);
  const rob = issueCard(server, hsm, '66', '666666');
  const agent = await startAgent(server, hsm, { card: rob.serial, passcode: '666666', origin: server.https, port: agentPort });
  const b = await launchBrowser({ server });
  try {
    const page = await b.context.newPage();
    await page.goto(`${server.https}/ra/login`);
    await page.click('#smartcard-login');
    await page.waitForURL('**/ra/');
    assert.match(await page.textContent('header'), /Rob Registration \(ra\)/);
  } finally {
    await b.close();
    await agent.stop();
  }
});
