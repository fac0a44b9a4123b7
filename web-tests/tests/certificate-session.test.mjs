// A portal session opened with the browser's own TLS client certificate is bound to the card
// (issue 14, done-when 4): the page hands the session's presence token to the real agent
// (`watch`), the agent watches the SoftHSM2 token that holds the card, and pulling the card
// ends the session — a page request after the pull is refused even with no page (so no event
// stream) open. The browser runs in a child process (see lib/tls-browser.mjs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, apiRequest, freePort, startServer, WEB_TESTS_DIR } from '../lib/harness.mjs';
import { softhsm } from '../lib/cards.mjs';
import { startDialogAgent } from '../lib/mycard.mjs';

let server, hsm, agentPort;

before(async () => {
  agentPort = await freePort();
  server = await startServer({ name: 'certificate-session', extraArgs: ['--agent-url', `http://127.0.0.1:${agentPort}`] });
  hsm = softhsm(server);
  await admin(server, ['user', 'add', '--uid', '31', '--name', 'Dr Tls Browser', '--organisation', 'RA1']);
  await admin(server, ['account', 'add', '--username', 'tls', '--name', 'Dr Tls Browser', '--uid', '31', '--role', 'portal:clinician']);
});

after(async () => { await server?.stop(); });

/** A SoftHSM2 token for the card: its serial and directory. */
function blankToken(label) {
  const env = { ...process.env, SOFTHSM2_CONF: hsm.conf };
  const before = new Set(readdirSync(hsm.tokens));
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '12345678', '--pin', '123456'], { env });
  const dir = readdirSync(hsm.tokens).find((d) => !before.has(d));
  const slots = execFileSync('softhsm2-util', ['--show-slots'], { env }).toString();
  const block = slots.split(/\n(?=Slot )/).find((b) => b.includes(`Label:            ${label}`) || new RegExp(`Label:\\s+${label}\\b`).test(b));
  const serial = block.match(/Serial number:\s+(\S+)/)[1];
  return { serial, dir: join(hsm.tokens, dir) };
}

test('a TLS-client-certificate session ends when its card is pulled; a page request after is refused with no event stream', async () => {
  const card = blankToken('tls-card');
  // The browser's middleware holds the authentication key (a file here); the card record is the token's.
  const files = {};
  for (const k of ['auth', 'sign']) {
    const key = join(server.dataDir, `${k}.key`);
    const csr = join(server.dataDir, `${k}.csr`);
    execFileSync('openssl', ['req', '-new', '-nodes', '-subj', '/CN=x', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', key, '-out', csr], { stdio: 'pipe' });
    files[k] = { key, csr: readFileSync(csr, 'utf8') };
  }
  const issued = await apiRequest(server, '/api/v1/admin/cards', {
    method: 'POST', token: true,
    body: { uid: '31', card_serial: card.serial, documents: 'passport', so_pin: '12345678', auth_csr: files.auth.csr, sign_csr: files.sign.csr, agent_version: '1.0.0' },
  });
  assert.equal(issued.status, 201, issued.text);
  const certPath = join(server.dataDir, 'auth-cert.pem');
  writeFileSync(certPath, issued.json().auth.certificate_pem + issued.json().chain_pem);

  const agent = await startDialogAgent(server, hsm, { origin: server.https, port: agentPort, card: card.serial });
  try {
    const child = spawn(process.execPath, [join(WEB_TESTS_DIR, 'lib', 'tls-browser.mjs')], {
      env: {
        ...process.env, NODE_EXTRA_CA_CERTS: server.rootPem,
        TLS_BROWSER: JSON.stringify({ https: server.https, rootPem: server.rootPem, certPath, keyPath: files.auth.key, tokenDir: card.dir }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    const code = await new Promise((ok) => child.on('exit', ok));
    assert.equal(code, 0, `${out}\nagent:\n${agent.output()}`);
    const seen = JSON.parse(out.trim().split('\n').pop());
    assert.match(seen.welcome, /Dr Tls Browser/);
    assert.equal(seen.presence, 1, 'the page carries the presence token');
    assert.match(seen.cardPage, /\/portal\/card$/, JSON.stringify(seen));
    assert.equal(seen.serial, card.serial);
    assert.match(seen.afterPull, /\/portal\/logged-out\?msg=card_removed/, JSON.stringify(seen));
    assert.match(seen.why, /smartcard was removed/);
  } finally {
    await agent.stop();
  }
});
