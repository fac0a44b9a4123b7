// Smoke test of the harness: a real server, Debian's Chromium trusting the server's own root,
// a JSON page that exists today (/ca) and the OpenAPI document.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { admin, apiRequest, launchBrowser, screenshot, startServer } from '../lib/harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'smoke' });
  browser = await launchBrowser({ server });
});

// Runs even when a test fails or before() threw half-way.
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('GET /ca in Chromium: the CA list, over TLS that chains to the server root', async () => {
  const page = await browser.context.newPage();
  const certErrors = [];
  page.on('requestfailed', (r) => {
    if (/ERR_CERT|SSL/i.test(r.failure()?.errorText ?? '')) certErrors.push(`${r.url()}: ${r.failure().errorText}`);
  });
  // ignoreHTTPSErrors is false: a certificate error would make goto() throw net::ERR_CERT_*.
  const res = await page.goto(`${server.https}/ca`);
  assert.equal(res.status(), 200);
  assert.deepEqual(certErrors, []);
  const tls = await res.securityDetails();
  assert.ok(tls, 'an HTTPS response has security details');
  assert.equal(tls.issuer, 'carecert Demo Systems CA');
  assert.equal(tls.subjectName, 'carecert server');

  const text = await page.textContent('body');
  assert.match(text, /systems/);
  assert.match(text, /smartcards/);
  const path = await screenshot(page, 'smoke-ca');
  assert.ok(existsSync(path));
  await page.close();
});

test('GET /api/v1/openapi.json in Chromium parses as an OpenAPI document', async () => {
  const page = await browser.context.newPage();
  const res = await page.goto(`${server.https}/api/v1/openapi.json`);
  assert.equal(res.status(), 200);
  const doc = JSON.parse(await res.text());
  assert.match(doc.openapi, /^3\./);
  assert.equal(doc.info.title, 'carecert');
  assert.ok(Object.keys(doc.paths).length > 0);
  await page.close();
});

test('a browser without the server root refuses the server (the trust above is real)', async () => {
  const untrusting = await launchBrowser();
  try {
    const page = await untrusting.context.newPage();
    await assert.rejects(page.goto(`${server.https}/ca`), /ERR_CERT_AUTHORITY_INVALID/);
  } finally {
    await untrusting.close();
  }
});

test('the harness reaches the server from Node and through `carecert admin`', async () => {
  const health = await apiRequest(server, '/healthz');
  assert.equal(health.status, 200);
  const orgs = JSON.parse(await admin(server, ['--json', 'org', 'list']));
  assert.ok(Array.isArray(orgs));
});
