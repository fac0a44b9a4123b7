// The RA desk in the browser (issue 14): an RA records the identity check on /ra/desk/issue
// (documents checklist + free text, "checked by" = the signed-in RA), the page hands the desk
// ticket to the desk's own carecert agent (SoftHSM2 as the reader, the scripted pinentry
// answering the holder's first passcode), shows "Creating card" and each certificate's
// Pending → Writing → Done, then the serials. Checked outside the page: two keys and two
// certificates on the token (pkcs11-tool), `openssl verify` against the chain, the identity
// check in the audit log with the RA's name. The same card is then renewed in person from its
// card page (/ra/desk/renew, the agent's `ra-renew` job). Then the RA updates the holder's contact details
// and sees the unlock-code log; and one test does the RA flows with the keyboard alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { ARTIFACTS_DIR, WEB_TESTS_DIR, admin, apiRequest, carecertBin, freePort, launchBrowser, screenshot, startServer } from '../lib/harness.mjs';
import { SOFTHSM, enrolWorkstation, lockCard, softhsm } from '../lib/cards.mjs';
import { checkPage, report } from '../lib/axe.mjs';

const PINENTRY = join(WEB_TESTS_DIR, 'lib', 'scripted-pinentry');
let server, browser, hsm, agent, secret, agentPort, answers, pinLog, deskCard, deskSerials;

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

/** `carecert-agent run` at the desk: no card yet (a blank SoftHSM2 slot), the scripted pinentry. */
async function startDeskAgent() {
  const bin = join(dirname(carecertBin()), 'carecert-agent');
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CARECERT_')) env[k] = v;
  Object.assign(env, { SOFTHSM2_CONF: hsm.conf, XDG_STATE_HOME: hsm.state, SCRIPTED_PINENTRY_ANSWERS: answers, SCRIPTED_PINENTRY_LOG: pinLog });
  const child = spawn(bin, ['--server', server.https, '--ca-file', server.rootPem, '--module', SOFTHSM,
    'run', '--poll-ms', '100', '--listen', `127.0.0.1:${agentPort}`, '--portal-origin', server.https, '--pinentry', PINENTRY],
  { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 100; i++) {
    if (await new Promise((ok) => { const s = connect(agentPort, '127.0.0.1', () => { s.end(); ok(true); }); s.on('error', () => ok(false)); })) {
      return { log: () => log, stop: () => new Promise((ok) => { if (child.exitCode !== null) return ok(); child.once('exit', ok); child.kill(); }) };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`carecert-agent run did not start: ${log}`);
}

/** The token labelled `label`: its objects, and its certificates verified against the chain. */
function checkToken(label, passcode) {
  const p11 = (args) => execFileSync('pkcs11-tool', ['--module', SOFTHSM, '--token-label', label, ...args],
    { env: { ...process.env, SOFTHSM2_CONF: hsm.conf } }).toString();
  const objects = p11(['--login', '--pin', passcode, '--list-objects']);
  const count = (kind) => (objects.match(new RegExp(`^${kind} Object`, 'gm')) || []).length;
  assert.equal(count('Private Key'), 2, objects);
  assert.equal(count('Certificate'), 2, objects);
  const chain = join(server.dataDir, 'smartcards.pem');
  return { objects, chain, verify: async () => {
    const r = await apiRequest(server, '/ca/smartcards.pem');
    assert.equal(r.status, 200, r.text);
    writeFileSync(chain, r.text);
    for (const role of ['auth', 'sign']) {
      const der = join(server.dataDir, `${label}-${role}.der`);
      p11(['--read-object', '--type', 'cert', '--label', `carecert ${role} certificate`, '-o', der]);
      const pem = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', der]).toString();
      writeFileSync(`${der}.pem`, pem);
      const out = execFileSync('openssl', ['verify', '-CAfile', server.rootPem, '-untrusted', chain, `${der}.pem`]).toString();
      assert.match(out, /: OK/, out);
    }
  } };
}

/** Watches the progress tags, so the test sees every state the page showed. */
async function recordProgress(page) {
  await page.evaluate(() => {
    window.__states = [];
    for (const id of ['cert-authentication', 'cert-signing']) {
      const el = document.getElementById(id);
      new MutationObserver(() => window.__states.push(`${id}:${el.textContent}`)).observe(el, { childList: true, characterData: true, subtree: true });
    }
    const h = document.getElementById('desk-progress');
    new MutationObserver(() => { if (!h.hidden) window.__states.push('creating'); }).observe(h, { attributes: true });
  });
}

async function login(page) {
  await page.goto(`${server.https}/ra/login`);
  await page.fill('input[name=username]', 'alice');
  await page.fill('input[name=password]', 'correct horse battery');
  await page.fill('input[name=code]', totp(secret));
  await page.click('form[action="/ra/login"] button');
  await page.waitForURL('**/ra/');
}

before(async () => {
  agentPort = await freePort();
  server = await startServer({ name: 'ra-desk', extraArgs: ['--agent-url', `http://127.0.0.1:${agentPort}`] });
  browser = await launchBrowser({ server });
  const r = await apiRequest(server, '/api/v1/admin/web-accounts', {
    method: 'POST', token: true, body: { username: 'alice', name: 'Alice Archer', roles: ['operator'], password: 'correct horse battery' },
  });
  assert.equal(r.status, 201, r.text);
  secret = r.json().totp_secret;
  await admin(server, ['user', 'add', '--uid', '4242', '--name', 'Dr Desk', '--organisation', 'RA1', '--email', 'desk@nhs.net']);
  await admin(server, ['user', 'add', '--uid', '4343', '--name', 'Kay Board', '--organisation', 'RA1']);
  hsm = softhsm(server);
  answers = join(server.dataDir, 'pinentry-answers');
  pinLog = join(server.dataDir, 'pinentry.log');
  writeFileSync(answers, '');
  const page = await browser.context.newPage();
  await login(page);
  await screenshot(page, 'ra-dashboard');
  await page.close();
});

/** The desk's agent, started the first time a test needs it. */
async function deskAgent() {
  if (!existsSync(PINENTRY)) throw new Error(`${PINENTRY} is missing (the scripted pinentry of the agent's local API)`);
  agent = agent ?? (await startDeskAgent());
  return agent;
}

after(async () => {
  if (agent) writeFileSync(join(ARTIFACTS_DIR, 'ra-desk.agent.log'), agent.log());
  await agent?.stop();
  await browser?.close();
  await server?.stop();
});


test('the RA issues a card at the desk page through the desk agent', async () => {
  await deskAgent();
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/ra/users?uid=4242`);
  await page.click('#issue-at-desk');
  await page.waitForURL('**/ra/desk/issue?uid=4242');
  assert.equal(await page.inputValue('#uid'), '4242');
  assert.match(await page.textContent('#checked-by'), /Alice Archer/);

  // Nothing ticked: the error summary links to the checklist; nothing is recorded.
  await page.click('#desk-issue button[type=submit]');
  assert.match(await page.textContent('.nhsuk-error-summary'), /There is a problem[\s\S]*identity documents/);
  assert.equal(await page.getAttribute('.nhsuk-error-summary a', 'href'), '#doc_passport');
  await screenshot(page, 'ra-desk-form-errors');
  assert.equal(await page.inputValue('#uid'), '4242', 'the form keeps what was typed');

  await page.check('#doc_passport');
  await page.check('#doc_address');
  await page.fill('#documents_other', 'passport no. 123456789');
  await page.fill('#label', 'Dr Desk');
  await page.click('#desk-issue button[type=submit]');
  assert.match(await page.textContent('#check-recorded'), /Identity check recorded for Dr Desk/);
  assert.match(await page.textContent('#desk-check'), /passport; proof of address \(utility bill or bank statement\); other: passport no\. 123456789/);
  await page.waitForFunction(() => !document.getElementById('desk-start').disabled);

  const ticket = await page.getAttribute('#desk-job', 'data-ticket');
  const recorded = await page.getAttribute('#desk-job', 'data-documents');
  writeFileSync(answers, '123456\n123456\n'); // the holder's first passcode, typed twice into the dialog
  await recordProgress(page);
  await page.click('#desk-start');
  await page.waitForSelector('#desk-result:not([hidden])', { timeout: 60_000 }).catch(async (e) => {
    throw new Error(`${e.message}\npage: ${await page.textContent('main')}\nagent: ${agent.log()}`);
  });
  await screenshot(page, 'ra-desk-issued');
  const states = await page.evaluate(() => window.__states);
  assert.ok(states.includes('creating'), states.join(' '));
  for (const c of ['authentication', 'signing']) {
    for (const st of ['Writing', 'Done']) assert.ok(states.includes(`cert-${c}:${st}`), `${c} ${st}: ${states.join(' ')}`);
    assert.equal((await page.textContent(`#cert-${c}`)).trim(), 'Done');
  }
  const card = (await page.textContent('#result-card')).trim();
  deskCard = card;
  const auth = (await page.textContent('#result-auth')).trim();
  const sign = (await page.textContent('#result-sign')).trim();
  assert.ok(card && auth && sign && auth !== sign, `${card} ${auth} ${sign}`);
  deskSerials = [auth, sign];
  const pins = readFileSync(pinLog, 'utf8');
  assert.match(pins, /4242|Dr Desk/, 'the dialog names the holder');

  // The token: two keys, two certificates, both verify against the chain.
  const token = checkToken('Dr Desk', '123456');
  await token.verify();

  // The card page knows the card, the RA who checked, and both serials.
  await page.click('#result-link');
  await page.waitForURL(`**/ra/cards?serial=${card}`);
  const summary = await page.textContent('#card');
  for (const s of [auth, sign, 'ca-admin:alice']) assert.ok(summary.includes(s), `${s} in ${summary}`);
  assert.equal((await page.textContent('#card-status')).trim(), 'active');

  // The audit log: the identity check with the RA's name, then the card issued by the same RA.
  await page.goto(`${server.https}/ra/audit?q=4242`);
  const audit = await page.textContent('tbody');
  assert.match(audit, /card\.identity_checked/);
  assert.match(audit, /Alice Archer/, 'the RA is named');
  assert.match(audit, /card\.issued/);
  assert.match(audit, /ca-admin:alice/);

  // The ticket was single use: presenting it again to the API is refused.
  const r = await apiRequest(server, '/api/v1/admin/cards', {
    method: 'POST', headers: { Authorization: `Bearer ${ticket}` },
    body: { uid: '4242', card_serial: 'AGAIN1', batch: 'default', documents: recorded, so_pin: '0123456789ab', auth_csr: 'x', sign_csr: 'x', agent_version: '9.9.9' },
  });
  assert.equal(r.status, 401, r.text);
  assert.match(r.json().message, /has been used/);
});

test('the RA renews a card in person through the desk agent', async () => {
  assert.ok(deskCard, 'the card issued at the desk in the test before');
  await deskAgent();
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/ra/cards?serial=${deskCard}`);
  await page.click('#renew-in-person');
  await page.waitForURL(`**/ra/desk/renew?card=${deskCard}`);
  assert.match(await page.textContent('#renew-card'), new RegExp(deskCard));
  assert.match(await page.textContent('#checked-by'), /Alice Archer/);

  // Nothing ticked: the error summary links to the checklist; nothing is recorded.
  await page.click('#desk-renew button[type=submit]');
  assert.match(await page.textContent('.nhsuk-error-summary'), /There is a problem[\s\S]*identity documents/);
  assert.equal(await page.getAttribute('.nhsuk-error-summary a', 'href'), '#doc_passport');

  await page.check('#doc_licence');
  await page.fill('#documents_other', 'licence no. DESK 424242');
  await page.click('#desk-renew button[type=submit]');
  assert.match(await page.textContent('#check-recorded'), /Identity check recorded for Dr Desk/);
  assert.match(await page.textContent('#desk-check'), /photocard driving licence; other: licence no\. DESK 424242/);
  const ticket = await page.getAttribute('#desk-job', 'data-ticket');
  assert.match(ticket, /^desk-[0-9a-f]{64}$/);
  // A renewal ticket issues no card (and stays usable for its own card).
  let r = await apiRequest(server, '/api/v1/admin/cards', {
    method: 'POST', headers: { Authorization: `Bearer ${ticket}` },
    body: { uid: '4242', card_serial: 'REN-X', batch: 'default', documents: 'photocard driving licence; other: licence no. DESK 424242', so_pin: '0123456789ab', auth_csr: 'x', sign_csr: 'x', agent_version: '9.9.9' },
  });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json().error, 'desk_ticket_scope');
  await page.waitForFunction(() => !document.getElementById('desk-start').disabled);

  writeFileSync(answers, '123456\n'); // the holder types the card's passcode into the dialog
  await recordProgress(page);
  await page.click('#desk-start');
  await page.waitForSelector('#desk-result:not([hidden])', { timeout: 60_000 }).catch(async (e) => {
    throw new Error(`${e.message}\npage: ${await page.textContent('main')}\nagent: ${agent.log()}`);
  });
  await screenshot(page, 'ra-desk-renewed');
  const states = await page.evaluate(() => window.__states);
  assert.ok(states.includes('creating'), states.join(' '));
  for (const c of ['authentication', 'signing']) {
    for (const st of ['Writing', 'Done']) assert.ok(states.includes(`cert-${c}:${st}`), `${c} ${st}: ${states.join(' ')}`);
    assert.equal((await page.textContent(`#cert-${c}`)).trim(), 'Done');
  }
  assert.equal((await page.textContent('#result-card')).trim(), deskCard);
  const auth = (await page.textContent('#result-auth')).trim();
  const sign = (await page.textContent('#result-sign')).trim();
  assert.ok(auth && sign && auth !== sign, `${auth} ${sign}`);
  assert.ok(!deskSerials.includes(auth) && !deskSerials.includes(sign), `new serials: ${auth} ${sign} (old ${deskSerials})`);

  // The token: still two keys and two certificates (the new ones), both verify.
  const token = checkToken('Dr Desk', '123456');
  await token.verify();
  const serialOf = (role) => execFileSync('openssl', ['x509', '-noout', '-serial', '-in', join(server.dataDir, `Dr Desk-${role}.der.pem`)]).toString();
  assert.ok(serialOf('auth').toLowerCase().includes(auth.toLowerCase().replace(/:/g, '')), `${serialOf('auth')} vs ${auth}`);

  // The card page shows the new serials and the RA who checked.
  await page.click('#result-link');
  await page.waitForURL(`**/ra/cards?serial=${deskCard}`);
  const summary = await page.textContent('#card');
  for (const s of [auth, sign, 'ca-admin:alice']) assert.ok(summary.includes(s), `${s} in ${summary}`);

  // The audit log: the identity check for the renewal with the RA's name, then the renewal.
  await page.goto(`${server.https}/ra/audit?q=${deskCard}`);
  const audit = await page.textContent('tbody');
  assert.match(audit, /card\.identity_checked/);
  assert.match(audit, /Alice Archer/, 'the RA is named');
  assert.match(audit, /card\.renewal_started/);

  // Single use: the same ticket starts no second renewal.
  r = await apiRequest(server, `/api/v1/admin/cards/${deskCard}/renewals`, {
    method: 'POST', headers: { Authorization: `Bearer ${ticket}` }, body: { documents: 'x', agent_version: '9.9.9' },
  });
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json().error, 'desk_ticket_refused');
});

test('the desk ticket issues only its own card, once', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/ra/desk/issue?uid=4343`);
  await page.check('#doc_licence');
  await page.click('#desk-issue button[type=submit]');
  const ticket = await page.getAttribute('#desk-job', 'data-ticket');
  assert.match(ticket, /^desk-[0-9a-f]{64}$/);
  const body = { uid: '4242', card_serial: 'X1', batch: 'default', documents: 'photocard driving licence', so_pin: '0123456789ab', auth_csr: 'x', sign_csr: 'x', agent_version: '9.9.9' };
  let r = await apiRequest(server, '/api/v1/admin/cards', { method: 'POST', body, headers: { Authorization: `Bearer ${ticket}` } });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json().error, 'desk_ticket_scope');
  r = await apiRequest(server, '/api/v1/admin/cards', { method: 'POST', body: { ...body, uid: '4343', documents: 'passport' }, headers: { Authorization: `Bearer ${ticket}` } });
  assert.equal(r.status, 403, r.text);
  r = await apiRequest(server, '/api/v1/admin/cards', { method: 'POST', body: { ...body, uid: '4343' }, headers: { Authorization: 'Bearer desk-' + '0'.repeat(64) } });
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json().error, 'desk_ticket_refused');
});

test('the RA changes contact details (errors in a summary) and sees the unlock-code log', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/ra/users?uid=4242`);
  assert.match(await page.textContent('#code-log-empty'), /No unlock code/);
  await page.click('#user a[href="/ra/users/4242/contact"] >> nth=0');
  await page.waitForURL('**/ra/users/4242/contact');
  await page.fill('#mobile', 'call me');
  await page.check('#landline_voice');
  await page.click('#contact button[type=submit]');
  assert.match(await page.textContent('.nhsuk-error-summary'), /mobile number 'call me' is not a telephone number/);
  assert.equal(await page.inputValue('#mobile'), 'call me', 'what was typed is kept');
  await page.fill('#mobile', '07700 900982');
  await page.click('#contact button[type=submit]');
  assert.match(await page.textContent('.nhsuk-error-summary'), /text-to-voice needs a landline/i);
  await page.fill('#landline', '0113 496 0000');
  await page.click('#contact button[type=submit]');
  await page.waitForURL('**/ra/users?uid=4242&done=contact_changed');
  assert.match(await page.textContent('[role=status]'), /Contact details saved/);
  const user = await page.textContent('#user');
  assert.match(user, /07700 900982/);
  assert.match(user, /0113 496 0000/);
  assert.match(await page.textContent('#landline-voice'), /Yes/);
  await screenshot(page, 'ra-person');

  // The delivery log: lock the card issued at the desk (three wrong passcodes on an enrolled
  // workstation), send a code by voice to the new landline, then one by email.
  if (deskCard) {
    lockCard(server, hsm, deskCard, await enrolWorkstation(server, '8890001'));
    for (const channel of ['voice', 'email']) {
      const r = await apiRequest(server, `/api/v1/cards/${deskCard}/unlock-codes`, { method: 'POST', body: { channel } });
      assert.equal(r.status, 200, r.text);
    }
    await page.goto(`${server.https}/ra/users?uid=4242`);
    const rows = await page.$$eval('#code-log tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim().replace(/\s+/g, ' ')).join(' | ')));
    assert.equal(rows.length, 2, rows.join('\n'));
    assert.match(rows[0], new RegExp(`^${deskCard} \\| Email \\| de\\*\\*\\*@nhs\\.net \\| .* \\| Not used yet`));
    assert.match(rows[1], /\| Text-to-voice call \| \*{10}000 \| .* \| Replaced by a newer code$/);
    await page.goto(`${server.https}/ra/cards?serial=${deskCard}`);
    assert.equal(await page.locator('#code-log tbody tr').count(), 2);
    await screenshot(page, 'ra-card-code-log');
    // With a card, tags and a filled delivery log, both pages still pass axe (WCAG 2.2 AA).
    for (const path of [`/ra/cards?serial=${deskCard}`, '/ra/users?uid=4242']) {
      await page.goto(`${server.https}${path}`);
      const violations = await checkPage(page);
      assert.equal(violations.length, 0, report(path, violations));
    }
  }
  await page.goto(`${server.https}/ra/audit?q=contact_changed`);
  assert.match(await page.textContent('tbody'), /user\.contact_changed[\s\S]*user:4242/);
});

/** Presses Tab until the focused element matches `selector` (at most 80 presses). */
async function tabTo(page, selector) {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

test('keyboard only: the RA issues a card at the desk and changes contact details', async () => {
  await deskAgent();
  const page = await browser.context.newPage();
  await page.goto(`${server.https}/ra/users?uid=4343`);
  await tabTo(page, '#issue-at-desk');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ra/desk/issue?uid=4343');
  await tabTo(page, '#doc_licence');
  await page.keyboard.press('Space');
  await tabTo(page, '#documents_other');
  await page.keyboard.type('licence no. KAYBO 123');
  await tabTo(page, '#label');
  await page.keyboard.type('Kay Board');
  await tabTo(page, '#desk-issue button[type=submit]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#check-recorded');
  await page.waitForFunction(() => !document.getElementById('desk-start').disabled);
  writeFileSync(answers, '654321\n654321\n');
  await tabTo(page, '#desk-start');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#desk-result:not([hidden])', { timeout: 60_000 }).catch(async (e) => {
    throw new Error(`${e.message}\npage: ${await page.textContent('main')}\nagent: ${agent.log()}`);
  });
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'result-link', 'focus moves to the result');
  checkToken('Kay Board', '654321');

  await page.goto(`${server.https}/ra/users?uid=4343`);
  await tabTo(page, '#user a[href="/ra/users/4343/contact"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ra/users/4343/contact');
  await tabTo(page, '#landline');
  await page.keyboard.type('020 7946 0958');
  await tabTo(page, '#landline_voice');
  await page.keyboard.press('Space');
  await tabTo(page, '#contact button[type=submit]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ra/users?uid=4343&done=contact_changed');
  assert.match(await page.textContent('#landline-voice'), /Yes/);
});
