// Helpers for the browser tests: a real `carecert serve --dev` on free loopback ports, Debian's
// Chromium driven by playwright-core, screenshots, and the `carecert admin` CLI.
//
// Environment:
//   CARECERT_BIN          the carecert binary (required; scripts/test passes the debug build)
//   CHROMIUM              the browser (default /usr/bin/chromium, from Debian's `chromium`)
//   WEB_TESTS_KEEP_DATA=1 keep each server's temporary data directory after stop()

import { spawn, execFile, execFileSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB_TESTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS_DIR = join(WEB_TESTS_DIR, 'artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Flags that work headless on these machines: the closed network refuses Chromium's background
// connections (updates, sync, QUIC probes), and we run as root (no sandbox).
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function carecertBin() {
  const bin = process.env.CARECERT_BIN;
  if (!bin) throw new Error('CARECERT_BIN is not set (the carecert binary, e.g. $CARGO_TARGET_DIR/debug/carecert)');
  if (!existsSync(bin)) throw new Error(`CARECERT_BIN=${bin} does not exist (cargo build -p carecert)`);
  return bin;
}

// The environment for carecert child processes, without any CARECERT_* of the developer's own
// (CARECERT_DATABASE_URL would point the server at another database, CARECERT_ADMIN_TOKEN would
// override the data directory's token, ...).
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CARECERT_')) env[k] = v;
  return { ...env, NO_COLOR: '1', ...extra };
}

/** A free TCP port on 127.0.0.1 (the OS picks it; we release it straight away). */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const running = new Set();
process.on('exit', () => { for (const child of running) child.kill('SIGKILL'); });

/**
 * Start `carecert serve --dev` in a new temporary data directory on two free loopback ports and
 * wait until its plain-HTTP /healthz answers.
 *
 * @param {{extraArgs?: string[], name?: string, timeoutMs?: number}} [opts]
 *   name: the server's log goes to artifacts/<name>.server.log (default server-<https port>).
 * @returns {Promise<{https: string, http: string, dataDir: string, token: string,
 *   rootPem: string, serverPem: string, logFile: string, process: import('node:child_process').ChildProcess,
 *   stop: () => Promise<void>}>}
 */
export async function startServer({ extraArgs = [], name, timeoutMs = 60_000 } = {}) {
  const bin = carecertBin();
  // Free ports can be taken between our check and the server's bind: try again with new ones.
  let lastError;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(bin, extraArgs, name, timeoutMs);
    } catch (e) {
      lastError = e;
      if (!/address in use|Address already in use/i.test(e.message)) throw e;
    }
  }
  throw lastError;
}

async function startOnce(bin, extraArgs, name, timeoutMs) {
  const httpsPort = await freePort();
  let httpPort = await freePort();
  while (httpPort === httpsPort) httpPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'carecert-web-'));
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const logFile = join(ARTIFACTS_DIR, `${name || `server-${httpsPort}`}.server.log`);
  const log = createWriteStream(logFile);
  const https = `https://127.0.0.1:${httpsPort}`;
  const http = `http://127.0.0.1:${httpPort}`;
  const args = ['serve', '--dev', '--data-dir', dataDir,
    '--listen', `127.0.0.1:${httpsPort}`, '--http-listen', `127.0.0.1:${httpPort}`, ...extraArgs];
  const child = spawn(bin, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  let output = '';
  // A test environment whose allow-list leaves out loopback closes our /healthz probe at
  // accept: the "serving" line says it is up.
  let serving = false;
  const keep = (b) => { output = (output + b).slice(-4000); if (String(b).includes('carecert is serving')) serving = true; };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exitPromise = new Promise((r) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    running.delete(child);
    r();
  }));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM'); // carecert shuts down gracefully on SIGTERM
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitPromise;
      clearTimeout(killer);
    }
    await new Promise((r) => log.end(r));
    if (!process.env.WEB_TESTS_KEEP_DATA) rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`carecert serve exited (${JSON.stringify(exited)}) before /healthz answered:\n${output}`);
    }
    try {
      const res = await fetch(`${http}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (serving) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`carecert serve: no answer from ${http}/healthz within ${timeoutMs} ms:\n${output}`);
    }
    await sleep(100);
  }

  return {
    https,
    http,
    dataDir,
    token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    rootPem: join(dataDir, 'ca', 'root.pem'),
    serverPem: join(dataDir, 'tls', 'server.pem'),
    logFile,
    process: child,
    stop,
  };
}

/**
 * Launch Debian's Chromium through playwright-core, trusting the given root certificates, and
 * open a context with ignoreHTTPSErrors: false (a certificate error fails the navigation).
 *
 * How the browser trusts the test CA: each launch gets a fresh temporary HOME holding an NSS
 * database ($HOME/.pki/nssdb, made with certutil from libnss3-tools) in which the server's root
 * (dataDir/ca/root.pem) is a trusted CA ("C,,"). Chromium on Linux adds the roots of that
 * database to its own, so it validates the server's certificate as any relying party would:
 * chain to the root, validity dates, the IP address in the subjectAltName, the server EKU
 * (measured here: https://localhost:<port>/ gives net::ERR_CERT_COMMON_NAME_INVALID, a browser
 * without the root net::ERR_CERT_AUTHORITY_INVALID). The alternative,
 * --ignore-certificate-errors-spki-list=<sha256 of the leaf SPKI>, also loads the page, but it
 * skips every check for that key (a wrong name or an expired certificate would pass) and pins
 * the leaf, not the CA; so we use it nowhere. playwright-core has no context option for extra
 * CAs; its Node side (only used with clientCertificates) checks servers against Node's CA store,
 * that is NODE_EXTRA_CA_CERTS, which is read when node starts: see README.
 *
 * @param {{server?: {rootPem: string}, trust?: string[], launchOptions?: object,
 *   contextOptions?: object}} [opts]  server: trust server.rootPem; trust: more PEM files.
 * @returns {Promise<{browser: import('playwright-core').Browser,
 *   context: import('playwright-core').BrowserContext, home: string, close: () => Promise<void>}>}
 */
export async function launchBrowser({ server, trust = [], launchOptions = {}, contextOptions = {} } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package (scripts/test does)`);
  const roots = [...(server ? [server.rootPem] : []), ...trust];
  const home = mkdtempSync(join(tmpdir(), 'carecert-chromium-home-'));
  if (roots.length) {
    const db = join(home, '.pki', 'nssdb');
    mkdirSync(db, { recursive: true });
    certutil(['-N', '-d', `sql:${db}`, '--empty-password']);
    roots.forEach((pem, i) => certutil(['-A', '-d', `sql:${db}`, '-n', `carecert test root ${i}`, '-t', 'C,,', '-i', pem]));
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    env: { ...process.env, HOME: home },
    ...launchOptions,
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: false, ...contextOptions });
  const close = async () => {
    await browser.close().catch(() => {});
    rmSync(home, { recursive: true, force: true });
  };
  return { browser, context, home, close };
}

function certutil(args) {
  try {
    execFileSync('certutil', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error('certutil not found: install Debian\'s libnss3-tools (scripts/test does)');
    throw new Error(`certutil ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

/** Save a full-page PNG of `page` as web-tests/artifacts/<name>.png; returns its path. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, name.endsWith('.png') ? name : `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Run `carecert admin <args…> --server <https> --data-dir <dataDir>` and return its stdout.
 * Rejects with stdout and stderr in the message when it exits non-zero.
 */
export function admin(server, args) {
  const bin = carecertBin();
  const argv = ['admin', ...args, '--server', server.https, '--data-dir', server.dataDir];
  return new Promise((ok, fail) => {
    execFile(bin, argv, { env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`carecert ${argv.join(' ')} failed (${err.code ?? err.signal}):\n${stdout}${stderr}`));
      else ok(stdout);
    });
  });
}

/**
 * A request from Node (not the browser) to the server's HTTPS listener, checked against the
 * server's root (dataDir/ca/root.pem) only. For seeding data or checking the API beside a page.
 * @param {{method?: string, body?: any, token?: string|boolean, headers?: object}} [opts]
 *   token: true sends the admin token as a bearer token; a string sends that token.
 * @returns {Promise<{status: number, headers: object, text: string, json: () => any}>}
 */
export function apiRequest(server, path, { method = 'GET', body, token, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token === true ? server.token : token}`;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!h['content-type']) h['content-type'] = 'application/json';
  }
  return new Promise((ok, fail) => {
    const req = httpsRequest(new URL(path, server.https), {
      method, headers: h, ca: readFileSync(server.rootPem), timeout: 30_000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        ok({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', fail);
    req.end(payload);
  });
}
