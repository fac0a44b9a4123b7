// Accessibility: every page of the portal and the RA console, signed out and signed in, has
// zero axe violations against the WCAG 2.2 A/AA rules; the pages use the NHS.UK frontend
// served by carecert itself (no CDN); a test deployment says "TEST" on every page.
// Screenshots of the RA dashboard and the portal home go to artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { admin, apiRequest, carecertBin, launchBrowser, screenshot, startServer } from '../lib/harness.mjs';
import { checkPage, report } from '../lib/axe.mjs';
import { enrolWorkstation, issueCard, lockCard, softhsm } from '../lib/cards.mjs';
import { smtpServer } from '../lib/mycard.mjs';

let server, browser, secret, smtp, lockedCard, activeCard;
const checked = [];

/** RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret. */
function totp(base32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** Opens `path`, checks it with axe, and fails with every violation listed. */
async function accessible(page, path, base = server.https) {
  await page.goto(`${base}${path}`);
  const violations = await checkPage(page);
  checked.push(`${path}: ${violations.length} violations`);
  assert.equal(violations.length, 0, report(path, violations));
}

before(async () => {
  smtp = await smtpServer();
  server = await startServer({ name: 'accessibility', extraArgs: ['--smtp', smtp.relay, '--unlock-email-domain', 'nhs.net'] });
  browser = await launchBrowser({ server });
  const ra = await apiRequest(server, '/api/v1/admin/web-accounts', {
    method: 'POST', token: true, body: { username: 'ally', name: 'Ally Access', roles: ['operator'], password: 'correct horse battery' },
  });
  assert.equal(ra.status, 201, ra.text);
  secret = ra.json().totp_secret;
  const p = await apiRequest(server, '/api/v1/admin/web-accounts', {
    method: 'POST', token: true, body: { username: 'pam', name: 'Pam Admin', roles: ['portal:admin'], password: 'another long password' },
  });
  assert.equal(p.status, 201, p.text);
  await admin(server, ['org', 'add', '--epoc', '8870001', '--name', 'Access Pharmacy', '--approval', 'ra-queue']);
  await admin(server, ['user', 'add', '--uid', '31', '--name', 'Dr Axe', '--organisation', 'RA1']);
  // A pending request, so the queue's approve and deny forms are checked too.
  const pin = JSON.parse(await admin(server, ['--json', 'pin', 'issue', '--epoc', '8870001'])).pin;
  const ecmt = (args, env = {}) => execFileSync(join(dirname(carecertBin()), 'ecmt'),
    ['--server', server.https, '--ca-file', server.rootPem, '--store', join(server.dataDir, 'ecmt-store'), ...args],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } }).toString();
  ecmt(['login', '--epoc', '8870001'], { ECMT_PIN: pin });
  ecmt(['--json', 'request', '--accept-policy']);
  // "My card": a portal user with a card (password login), and a locked card for the unlock pages.
  await admin(server, ['user', 'add', '--uid', '41', '--name', 'Dr Card Holder', '--email', 'holder@nhs.net', '--organisation', 'RA1']);
  const h = await apiRequest(server, '/api/v1/admin/web-accounts', {
    method: 'POST', token: true,
    body: { username: 'holder', name: 'Dr Card Holder', uid: '41', roles: ['portal:clinician'], password: 'holder long password' },
  });
  assert.equal(h.status, 201, h.text);
  const hsm = softhsm(server);
  activeCard = issueCard(server, hsm, '41', '414141').serial;
  await admin(server, ['user', 'add', '--uid', '42', '--name', 'Dr Locked Out', '--email', 'locked@nhs.net', '--organisation', 'RA1']);
  lockedCard = issueCard(server, hsm, '42', '424242').serial;
  lockCard(server, hsm, lockedCard, await enrolWorkstation(server, '8870002'));
});

after(async () => {
  console.log(`axe (WCAG 2.2 A/AA):\n  ${checked.join('\n  ')}`);
  await browser?.close();
  await server?.stop();
  await smtp?.stop();
});

test('signed-out pages have no accessibility violations and use the NHS.UK frontend', async () => {
  const page = await browser.context.newPage();
  for (const path of ['/portal/login', '/portal/logged-out?msg=logged_out', '/portal/logged-out?msg=card_removed',
    '/portal/refused?msg=not_registered', '/download', '/ra/login', '/ra/login?msg=login_failed',
    // The Smartcard Service Centre's unlock (no session): find the card, a wrong serial, a card
    // that is not locked, the channel choice.
    '/portal/unlock', '/portal/unlock?serial=no%20such!', '/portal/unlock?serial=NOSUCHCARD',
    `/portal/unlock?serial=${lockedCard}`]) {
    await accessible(page, path);
  }
  // The code entry, after the code was sent.
  await page.goto(`${server.https}/portal/unlock?serial=${lockedCard}`);
  await page.click('#send-code');
  await page.locator('#code').waitFor();
  const v = await checkPage(page);
  checked.push(`POST /portal/unlock/code: ${v.length} violations`);
  assert.equal(v.length, 0, report('/portal/unlock/code', v));
  // The look is the NHS.UK frontend, served by carecert itself.
  await page.goto(`${server.https}/ra/login`);
  const sheets = await page.$$eval('link[rel=stylesheet]', (ls) => ls.map((l) => l.getAttribute('href')));
  assert.ok(sheets.some((h) => /^\/assets\/nhsuk-frontend-10\.\d+\.\d+\.min\.css$/.test(h)), sheets.join(' '));
  assert.equal(await page.locator('header.nhsuk-header').count(), 1);
  const blue = await page.$eval('header.nhsuk-header', (h) => getComputedStyle(h).backgroundColor);
  assert.equal(blue, 'rgb(0, 94, 184)', 'the NHS blue header (the stylesheet loaded)');
  // The first Tab lands on "Skip to main content"; Enter goes to the page's main content.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to main content');
  await page.keyboard.press('Enter');
  assert.match(page.url(), /#maincontent$/);
});

test('every RA console page, signed in, has no accessibility violations', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/ra/login`);
  await page.fill('input[name=username]', 'ally');
  await page.fill('input[name=password]', 'correct horse battery');
  await page.fill('input[name=code]', totp(secret));
  await page.click('form[action="/ra/login"] button');
  await page.waitForURL('**/ra/');
  await screenshot(page, 'nhs-ra-dashboard');
  for (const path of ['/ra/', '/ra/requests', '/ra/orgs', '/ra/certificates', '/ra/certificates?q=8870001',
    '/ra/users', '/ra/users?uid=31', '/ra/cards', '/ra/cards?serial=0000000000000000', '/ra/releases', '/ra/audit',
    '/ra/audit?q=org', '/ra/desk/issue', '/ra/desk/issue?uid=31', '/ra/users/31/contact']) {
    await accessible(page, path);
  }
  // The RA desk's and the contact form's states after a post: the error summary, and the
  // "Create the card" page with its progress (issue 14).
  const afterPost = async (name) => {
    const violations = await checkPage(page);
    checked.push(`${name}: ${violations.length} violations`);
    assert.equal(violations.length, 0, report(name, violations));
  };
  await page.goto(`${server.https}/ra/desk/issue?uid=31`);
  await page.click('#desk-issue button[type=submit]');
  await page.waitForSelector('.nhsuk-error-summary');
  await afterPost('/ra/desk/issue (errors)');
  await page.check('#doc_passport');
  await page.click('#desk-issue button[type=submit]');
  await page.waitForSelector('#desk-job');
  await afterPost('/ra/desk/issue (create the card)');
  // Renewing a card in person: the form, its error summary, and the "Renew the card" page.
  await accessible(page, `/ra/desk/renew?card=${activeCard}`);
  await page.click('#desk-renew button[type=submit]');
  await page.waitForSelector('.nhsuk-error-summary');
  await afterPost('/ra/desk/renew (errors)');
  await page.check('#doc_passport');
  await page.click('#desk-renew button[type=submit]');
  await page.waitForSelector('#desk-job');
  await afterPost('/ra/desk/renew (renew the card)');
  await page.goto(`${server.https}/ra/users/31/contact`);
  await page.fill('#mobile', 'not a number');
  await page.click('#contact button[type=submit]');
  await page.waitForSelector('.nhsuk-error-summary');
  await afterPost('/ra/users/31/contact (errors)');
});

test('every portal page, signed in, has no accessibility violations', async () => {
  const ctx = await browser.browser.newContext({ ignoreHTTPSErrors: false });
  try {
    const page = await ctx.newPage();
    await page.goto(`${server.https}/portal/login`);
    await page.fill('input[name=username]', 'pam');
    await page.fill('input[name=password]', 'another long password');
    await page.click('form[action="/portal/login"] button');
    await page.waitForURL('**/portal/**');
    await screenshot(page, 'nhs-portal-home');
    for (const path of ['/portal/', '/portal/admin/uids']) await accessible(page, path);
  } finally {
    await ctx.close();
  }
});

test('every My card page, signed in, has no accessibility violations', async () => {
  const ctx = await browser.browser.newContext({ ignoreHTTPSErrors: false });
  try {
    const page = await ctx.newPage();
    await page.goto(`${server.https}/portal/login`);
    await page.fill('input[name=username]', 'holder');
    await page.fill('input[name=password]', 'holder long password');
    await page.click('form[action="/portal/login"] button');
    await page.waitForURL('**/portal/**');
    for (const path of ['/portal/', '/portal/card', '/portal/card/renew', '/portal/card/passcode', '/portal/card/sponsor']) {
      await accessible(page, path);
    }
  } finally {
    await ctx.close();
  }
});

test('a test deployment says TEST on every page', async () => {
  const test = await startServer({ name: 'accessibility-test-env', extraArgs: ['--environment', 'test', '--allow-cidr', '127.0.0.0/8'] });
  const b = await launchBrowser({ server: test });
  try {
    const page = await b.context.newPage();
    for (const path of ['/portal/login', '/ra/login']) {
      await page.goto(`${test.https}${path}`);
      assert.match(await page.textContent('.carecert-environment'), /TEST/);
      assert.match(await page.title(), /\(TEST\)/);
      await accessible(page, path, test.https).catch((e) => { throw new Error(`${path} on a test deployment: ${e.message}`); });
    }
  } finally {
    await b.close();
    await test.stop();
  }
});
