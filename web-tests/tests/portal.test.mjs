// The portal in Chromium with a SoftHSM2 card and the real agent: smartcard login with role
// choice, card removal closing the page (timed), an unregistered card refused, password login,
// logout, idle timeout, forged tickets and cross-origin ticket requests refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, apiRequest, freePort, launchBrowser, screenshot, startServer } from '../lib/harness.mjs';
import { issueCard, pullCard, softhsm, startAgent } from '../lib/cards.mjs';

let server, browser, hsm, agentPort, ada, nobody;

before(async () => {
  agentPort = await freePort();
  server = await startServer({ name: 'portal', extraArgs: ['--agent-url', `http://127.0.0.1:${agentPort}`, '--idle-timeout-secs', '3'] });
  browser = await launchBrowser({ server });
  hsm = softhsm(server);
  await admin(server, ['user', 'add', '--uid', '12', '--name', 'Dr Ada Jones', '--organisation', 'RA1']);
  await admin(server, ['user', 'add', '--uid', '99', '--name', 'Not Registered', '--organisation', 'RA1']);
  await admin(server, ['account', 'add', '--username', 'ada', '--name', 'Dr Ada Jones', '--uid', '12', '--role', 'portal:clinician', '--role', 'portal:admin']);
  ada = issueCard(server, hsm, '12', '123456');
  nobody = issueCard(server, hsm, '99', '999999');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('smartcard login with role choice, then pulling the card closes the page within a second', async () => {
  const agent = await startAgent(server, hsm, { card: ada.serial, passcode: '123456', origin: server.https, port: agentPort });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.https}/portal/login`);
    await screenshot(page, 'portal-login');
    await page.click('#smartcard-login');
    await page.waitForURL('**/portal/role');
    await page.check('input[value="portal:clinician"]');
    await page.click('button[type=submit]');
    await page.waitForURL('**/portal/');
    assert.match(await page.textContent('#welcome'), /Dr Ada Jones/);
    assert.equal((await page.textContent('#role')).trim(), 'clinician');
    await screenshot(page, 'portal-home');
    await page.waitForTimeout(500); // the page's event stream is open
    const putBack = pullCard(ada.dir);
    const t0 = Date.now();
    await page.waitForURL('**/portal/logged-out**', { timeout: 5000 });
    const ms = Date.now() - t0;
    console.log(`card removal → logged-out page: ${ms} ms`);
    assert.ok(ms < 1000, `card removal took ${ms} ms to close the page`);
    assert.match(await page.textContent('#why'), /ended/);
    putBack();
  } finally {
    await agent.stop();
  }
});

test('a card whose UID is not registered gets a clear refusal', async () => {
  const agent = await startAgent(server, hsm, { card: nobody.serial, passcode: '999999', origin: server.https, port: agentPort });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.https}/portal/login`);
    await page.click('#smartcard-login');
    await page.waitForURL('**/portal/refused**');
    const why = await page.textContent('#why');
    assert.match(why, /not registered/);
    assert.match(why, /helpdesk/);
    // A ticket request from another origin is refused by the agent itself.
    const r = await fetch(`${agent.url}/v1/ticket`, { method: 'POST', headers: { Origin: 'https://evil.example' } });
    assert.equal(r.status, 403);
  } finally {
    await agent.stop();
  }
});

test('password login, logout, idle timeout; forged tickets and CSRF refused', async () => {
  const add = await apiRequest(server, '/api/v1/admin/web-accounts', {
    method: 'POST', token: true,
    body: { username: 'pat', name: 'Pat Password', roles: ['portal:reception'], password: 'a long enough password' },
  });
  assert.equal(add.status, 201, add.text);
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/portal/login`);
  await page.fill('input[name=username]', 'pat');
  await page.fill('input[name=password]', 'a long enough password');
  await page.click('form[action="/portal/login"] button');
  await page.waitForURL('**/portal/');
  assert.match(await page.textContent('#welcome'), /Pat Password/);
  await page.click('#logout');
  await page.waitForURL('**/portal/logged-out**');
  assert.match(await page.textContent('#why'), /logged out/);
  // Idle for longer than the (shortened) timeout: the page goes to logged-out by itself.
  await page.goto(`${server.https}/portal/login`);
  await page.fill('input[name=username]', 'pat');
  await page.fill('input[name=password]', 'a long enough password');
  await page.click('form[action="/portal/login"] button');
  await page.waitForURL('**/portal/');
  await page.waitForURL('**/portal/logged-out**', { timeout: 8000 });
  // A forged ticket, and a logout form without the CSRF token: refused.
  const forged = await apiRequest(server, '/portal/login/card', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `ticket=${'ab'.repeat(32)}`,
  });
  assert.equal(forged.status, 303);
  assert.match(forged.headers.location, /refused/);
  const big = await apiRequest(server, '/portal/login', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${'x'.repeat(20000)}&password=y`,
  });
  assert.equal(big.status, 413);
});

test('a portal administrator registers a UID on a page, and that card then logs in', async () => {
  const add = await apiRequest(server, '/api/v1/admin/web-accounts', {
    method: 'POST', token: true,
    body: { username: 'pam', name: 'Pam Admin', roles: ['portal:admin'], password: 'another long password' },
  });
  assert.equal(add.status, 201, add.text);
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/portal/login`);
  await page.fill('input[name=username]', 'pam');
  await page.fill('input[name=password]', 'another long password');
  await page.click('form[action="/portal/login"] button');
  await page.waitForURL('**/portal/');
  await page.click('a[href="/portal/admin/uids"]');
  await page.fill('input[name=uid]', '99');
  await page.fill('input[name=username]', 'nora');
  await page.fill('input[name=name]', 'Nora Newly Registered');
  await page.fill('input[name=role]', 'clinician');
  await page.click('button[type=submit]');
  assert.match(await page.textContent('[role=status]'), /UID 99 registered/);
  const agent = await startAgent(server, hsm, { card: nobody.serial, passcode: '999999', origin: server.https, port: agentPort });
  const second = await launchBrowser({ server });
  try {
    const p2 = await second.context.newPage();
    await p2.goto(`${server.https}/portal/login`);
    await p2.click('#smartcard-login');
    await p2.waitForURL('**/portal/');
    assert.match(await p2.textContent('#welcome'), /Nora Newly Registered/);
  } finally {
    await second.close();
    await agent.stop();
  }
});
