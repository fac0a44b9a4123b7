// Live and test environments: a test deployment closes connections from addresses outside its
// allow-list at accept (no TLS, no page), and a card of one environment cannot log in to the other's portal (each has its own
// CAs and card records).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, freePort, launchBrowser, startServer } from '../lib/harness.mjs';
import { issueCard, softhsm, startAgent } from '../lib/cards.mjs';

let live, testEnv, liveBrowser, testBrowser, livePort, testPort;

before(async () => {
  livePort = await freePort();
  testPort = await freePort();
  live = await startServer({ name: 'env-live', extraArgs: ['--agent-url', `http://127.0.0.1:${livePort}`] });
  testEnv = await startServer({
    name: 'env-test',
    extraArgs: ['--environment', 'test', '--allow-cidr', '127.0.0.0/8', '--agent-url', `http://127.0.0.1:${testPort}`],
  });
  liveBrowser = await launchBrowser({ server: live });
  testBrowser = await launchBrowser({ server: testEnv });
  for (const s of [live, testEnv]) {
    await admin(s, ['user', 'add', '--uid', '12', '--name', 'Dr Ada Jones', '--organisation', 'RA1']);
    await admin(s, ['account', 'add', '--username', 'ada', '--name', 'Dr Ada Jones', '--uid', '12', '--role', 'portal:clinician']);
  }
});

after(async () => {
  await liveBrowser?.close();
  await testBrowser?.close();
  await live?.stop();
  await testEnv?.stop();
});

test('a test environment answers only its allow-list', async () => {
  const outside = await startServer({ name: 'env-test-closed', extraArgs: ['--environment', 'test', '--allow-cidr', '10.0.0.0/8'] });
  const b = await launchBrowser({ server: outside });
  try {
    const page = await b.context.newPage();
    // Closed before TLS: the browser gets no page at all.
    await assert.rejects(page.goto(`${outside.https}/portal/login`), /ERR_|closed|reset|SSL/i);
    const inside = await (await testBrowser.context.newPage()).goto(`${testEnv.https}/portal/login`);
    assert.equal(inside.status(), 200);
  } finally {
    await b.close();
    await outside.stop();
  }
});

async function crossLogin(cardServer, portalServer, browser, port) {
  const hsm = softhsm(cardServer);
  const card = issueCard(cardServer, hsm, '12', '121212');
  // The workstation's agent talks to the portal's environment, with a card from the other one.
  const agent = await startAgent(portalServer, hsm, { card: card.serial, passcode: '121212', origin: portalServer.https, port });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${portalServer.https}/portal/login`);
    await page.click('#smartcard-login');
    await page.waitForURL('**/portal/refused**');
    return await page.textContent('#why');
  } finally {
    await agent.stop();
  }
}

test('a test card cannot log in to the live portal', async () => {
  const why = await crossLogin(testEnv, live, liveBrowser, livePort);
  assert.match(why, /not registered/);
});

test('a live card cannot log in to the test portal', async () => {
  const why = await crossLogin(live, testEnv, testBrowser, testPort);
  assert.match(why, /not registered/);
});
