// Smartcards for the browser tests: SoftHSM2 tokens, `carecert-agent card issue` at the "RA
// desk", and `carecert-agent run` (the local API the portal's pages call) with the scripted
// pinentry as its passcode dialog.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { admin, carecertBin, freePort } from './harness.mjs';

export const SOFTHSM = '/usr/lib/softhsm/libsofthsm2.so';

function agentBin() {
  const bin = join(dirname(carecertBin()), 'carecert-agent');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: cargo build -p carecert-agent (scripts/test builds every binary)`);
  return bin;
}

/** A private SoftHSM2 token directory inside the server's data directory. */
export function softhsm(server) {
  if (!existsSync(SOFTHSM)) throw new Error('SoftHSM2 is missing: install the Debian package softhsm2');
  const dir = join(server.dataDir, 'softhsm');
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { recursive: true });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  return { conf, tokens, state: join(dir, 'state') };
}

function agentEnv(hsm, extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CARECERT_')) env[k] = v;
  return { ...env, SOFTHSM2_CONF: hsm.conf, XDG_STATE_HOME: hsm.state, ...extra };
}

function agentArgs(server) {
  return ['--server', server.https, '--ca-file', server.rootPem, '--module', SOFTHSM];
}

/** Issues a card to `uid` with first passcode `passcode`; returns {serial, dir}. */
export function issueCard(server, hsm, uid, passcode) {
  const before = new Set(readdirSync(hsm.tokens));
  const out = execFileSync(
    agentBin(),
    [...agentArgs(server), '--json', 'card', 'issue', '--uid', uid, '--documents', 'passport', '--label', `card-${uid}`],
    { env: agentEnv(hsm, { CARECERT_ADMIN_TOKEN: server.token, CARECERT_NEW_PASSCODE: passcode }) },
  ).toString();
  const dir = readdirSync(hsm.tokens).find((d) => !before.has(d));
  return { serial: JSON.parse(out.trim().split('\n').pop()).card, dir: join(hsm.tokens, dir) };
}

/** The scripted pinentry (Assuan over stdin/stdout; answers from a file, logs what it was asked). */
export const SCRIPTED_PINENTRY = fileURLToPath(new URL('./scripted-pinentry', import.meta.url));

/**
 * Starts `carecert-agent run` for one card with the scripted pinentry as its passcode dialog;
 * returns {url, port, stop(), answer(lines), asked()}. `answer(['123456', 'CANCEL', …])` sets
 * what the dialog "types", one line per passcode the agent asks; `asked()` is what the agent
 * showed in it ([{command: 'SETDESC'|'SETPROMPT'|'SETERROR'|'GETPIN', text|answer}]). With
 * `passcode`, the dialog answers it to the first ten passcode prompts (portal logins).
 */
export async function startAgent(server, hsm, { card, passcode, origin, port, answers }) {
  port = port ?? (await freePort());
  const dir = join(dirname(hsm.conf), `pinentry-${port}`);
  mkdirSync(dir, { recursive: true });
  const answersFile = join(dir, 'answers');
  const logFile = join(dir, 'log');
  const answer = (lines) => writeFileSync(answersFile, lines.map((l) => `${l}\n`).join(''));
  answer(answers ?? (passcode ? Array(10).fill(passcode) : []));
  const child = spawn(
    agentBin(),
    [...agentArgs(server), '--card', card, '--pinentry', SCRIPTED_PINENTRY, 'run', '--poll-ms', '100', '--listen', `127.0.0.1:${port}`, '--portal-origin', origin],
    { env: agentEnv(hsm, { SCRIPTED_PINENTRY_ANSWERS: answersFile, SCRIPTED_PINENTRY_LOG: logFile }), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const asked = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  for (let i = 0; i < 100; i++) {
    if (await new Promise((ok) => { const s = connect(port, '127.0.0.1', () => { s.end(); ok(true); }); s.on('error', () => ok(false)); })) {
      return { url: `http://127.0.0.1:${port}`, port, answer, asked, stop: () => new Promise((ok) => { child.once('exit', ok); child.kill(); }) };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error('carecert-agent run did not start');
}

/** "Pulls" the card whose token directory is `dir`; returns a function that puts it back. */
export function pullCard(dir) {
  renameSync(dir, `${dir}.pulled`);
  return () => renameSync(`${dir}.pulled`, dir);
}

/**
 * Enrols a workstation (an organisation with automatic approval, a PIN letter, `ecmt renew`)
 * and returns its machine certificate and key: an agent presenting them over mutual TLS is
 * an enrolled workstation, whose wrong passcodes count toward a card's lock.
 */
export async function enrolWorkstation(server, epoc) {
  await admin(server, ['org', 'add', '--epoc', epoc, '--name', `Workstation ${epoc}`, '--approval', 'automatic']);
  const pin = JSON.parse(await admin(server, ['--json', 'pin', 'issue', '--epoc', epoc])).pin;
  const store = join(server.dataDir, `workstation-${epoc}`);
  execFileSync(
    join(dirname(carecertBin()), 'ecmt'),
    ['--server', server.https, '--ca-file', server.rootPem, '--store', store, 'renew', '--epoc', epoc, '--accept-policy'],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME, ECMT_PIN: pin } },
  );
  return { cert: join(store, 'cert.pem'), key: join(store, 'key.pem') };
}

/** Three wrong passcodes typed through the agent on the enrolled workstation `ws`: the card locks. */
export function lockCard(server, hsm, card, ws) {
  for (let i = 0; i < 3; i++) {
    try {
      execFileSync(
        agentBin(),
        [...agentArgs(server), '--client-cert', ws.cert, '--client-key', ws.key, '--card', card, 'login'],
        { env: agentEnv(hsm, { CARECERT_PASSCODE: '00000000' }), stdio: 'pipe' },
      );
    } catch (e) {
      if (e.status !== 1) throw e;
    }
  }
}
