// "My card" in the browser tests: a local SMTP server that keeps what it receives (unlock
// codes), `carecert-agent run` with the scripted pinentry (the passcode dialog's answers come
// from a file, as a person would type them), and the real tools to look at a SoftHSM2 card
// (pkcs11-tool) and its certificates (openssl verify, openssl ocsp).
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { carecertBin, freePort, WEB_TESTS_DIR } from './harness.mjs';
import { SOFTHSM } from './cards.mjs';

export const PINENTRY = join(WEB_TESTS_DIR, 'lib', 'scripted-pinentry');

/**
 * A plain SMTP server on loopback that accepts every message. `next(ms)` resolves to the next
 * message's text (waiting up to `ms`).
 */
export async function smtpServer() {
  const messages = [];
  const waiters = [];
  const srv = createServer((sock) => {
    let buf = '';
    let data = null;
    sock.write('220 test.local ESMTP\r\n');
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (data !== null) {
          if (line === '.') {
            const msg = data;
            data = null;
            const w = waiters.shift();
            if (w) w(msg); else messages.push(msg);
            sock.write('250 queued\r\n');
          } else data += line + '\n';
          continue;
        }
        const cmd = line.toUpperCase();
        if (cmd.startsWith('DATA')) { data = ''; sock.write('354 go ahead\r\n'); }
        else if (cmd.startsWith('QUIT')) { sock.end('221 bye\r\n'); }
        else if (cmd.startsWith('EHLO') || cmd.startsWith('HELO')) sock.write('250 test.local\r\n');
        else sock.write('250 ok\r\n');
      }
    });
    sock.on('error', () => {});
  });
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address();
  return {
    port,
    relay: `127.0.0.1:${port}`,
    next: (ms = 10_000) => new Promise((ok, fail) => {
      if (messages.length) { ok(messages.shift()); return; }
      const t = setTimeout(() => fail(new Error(`no email within ${ms} ms`)), ms);
      waiters.push((m) => { clearTimeout(t); ok(m); });
    }),
    stop: () => new Promise((ok) => srv.close(() => ok())),
  };
}

/** The 8-digit unlock code in an email. */
export function codeIn(mail) {
  const m = mail.replace(/=\r?\n/g, '').match(/code is ([0-9]{8})/);
  if (!m) throw new Error(`no unlock code in: ${mail}`);
  return m[1];
}

function agentBin() {
  return join(dirname(carecertBin()), 'carecert-agent');
}

/** The scripted pinentry's answers: one per passcode the dialog asks for (digits or CANCEL). */
export function answer(agent, ...lines) {
  writeFileSync(agent.answers, lines.length ? lines.join('\n') + '\n' : '');
}

/** Adds answers after the ones still unused. */
export function answerMore(agent, ...lines) {
  appendFileSync(agent.answers, lines.join('\n') + '\n');
}

/** What the dialog was told so far (SETDESC/SETPROMPT/SETERROR, one JSON object each). */
export function dialogLog(agent) {
  if (!existsSync(agent.log)) return [];
  return readFileSync(agent.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/**
 * `carecert-agent run` with the scripted pinentry as its passcode dialog, answering for the
 * portal at `origin`. `card`: the card to use (else the one in the reader); `workstation`:
 * {cert, key} of an enrolled workstation (wrong passcodes then count toward the lock); `env`:
 * more environment (test hooks). Returns {url, port, answers, log, stop()}.
 */
export async function startDialogAgent(server, hsm, { origin, port, card, workstation, env = {}, name = 'agent' }) {
  port = port ?? (await freePort());
  const answers = join(server.dataDir, `${name}-pinentry-answers`);
  const log = join(server.dataDir, `${name}-pinentry-log`);
  writeFileSync(answers, '');
  writeFileSync(log, '');
  const args = ['--server', server.https, '--ca-file', server.rootPem, '--module', SOFTHSM];
  if (card) args.push('--card', card);
  if (workstation) args.push('--client-cert', workstation.cert, '--client-key', workstation.key);
  args.push('run', '--poll-ms', '100', '--listen', `127.0.0.1:${port}`, '--portal-origin', origin, '--pinentry', PINENTRY);
  const clean = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CARECERT_') && !k.startsWith('SCRIPTED_PINENTRY')) clean[k] = v;
  const child = spawn(agentBin(), args, {
    env: {
      ...clean, SOFTHSM2_CONF: hsm.conf, XDG_STATE_HOME: hsm.state,
      SCRIPTED_PINENTRY_ANSWERS: answers, SCRIPTED_PINENTRY_LOG: log, ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (b) => { output = (output + b).slice(-4000); });
  child.stderr.on('data', (b) => { output = (output + b).slice(-4000); });
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (await new Promise((ok) => { const s = connect(port, '127.0.0.1', () => { s.end(); ok(true); }); s.on('error', () => ok(false)); })) {
      return {
        url: `http://127.0.0.1:${port}`, port, answers, log, output: () => output,
        stop: () => new Promise((ok) => { if (child.exitCode !== null) { ok(); return; } child.once('exit', ok); child.kill(); }),
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`carecert-agent run did not start:\n${output}`);
}

function pkcs11(hsm, args) {
  return execFileSync('pkcs11-tool', ['--module', SOFTHSM, ...args], { env: { ...process.env, SOFTHSM2_CONF: hsm.conf }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** The objects on the card labelled `label` (logged in with `passcode`). */
export function listObjects(hsm, label, passcode) {
  return pkcs11(hsm, ['--token-label', label, '--login', '--pin', passcode, '--list-objects']);
}

/** The card's certificate `id` (01 authentication, 02 signing) as a PEM file `out`. */
export function cardCertificate(hsm, label, id, out) {
  const der = `${out}.der`;
  pkcs11(hsm, ['--token-label', label, '--read-object', '--type', 'cert', '--id', id, '-o', der]);
  execFileSync('openssl', ['x509', '-inform', 'DER', '-in', der, '-out', out]);
  return out;
}

/** The serial of a PEM certificate, upper-case hex. */
export function serialOf(pem) {
  return execFileSync('openssl', ['x509', '-noout', '-serial', '-in', pem]).toString().trim().replace(/^serial=/, '').toUpperCase();
}

/** `openssl verify` of a card certificate against the server's root and smartcards CA. */
export function verify(server, pem) {
  try {
    return execFileSync('openssl', ['verify', '-CAfile', server.rootPem, '-untrusted', join(server.dataDir, 'ca', 'smartcards.pem'), pem], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    return `${e.stdout}${e.stderr}`;
  }
}

/** `openssl ocsp` for a card certificate at the server's responder: its output. */
export function ocsp(server, pem) {
  try {
    return execFileSync('openssl', ['ocsp', '-url', `${server.http}/ocsp`, '-issuer', join(server.dataDir, 'ca', 'smartcards.pem'), '-cert', pem, '-CAfile', server.rootPem], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    return `${e.stdout}${e.stderr}`;
  }
}

/** A job's state straight from the agent (`GET /v1/jobs/ID`), for waiting in tests. */
export async function agentJob(agent, id) {
  const r = await fetch(`${agent.url}/v1/jobs/${id}`);
  return r.json();
}
