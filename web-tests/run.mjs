#!/usr/bin/env node
// Runs every tests/*.test.mjs with Node's built-in test runner (`node --test`), prints a summary
// and exits non-zero when a test fails, when no test ran, or when the harness cannot run.
//
//   CARECERT_BIN=/var/tmp/carecert-target/debug/carecert node run.mjs [name-pattern]
//
// The spec report goes to stdout, a TAP copy and the server logs and screenshots to artifacts/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const fail = (msg) => { console.error(`web-tests: error: ${msg}`); process.exit(2); };

const bin = process.env.CARECERT_BIN;
if (!bin) fail('CARECERT_BIN is not set (the carecert binary, e.g. /var/tmp/carecert-target/debug/carecert)');
if (!existsSync(bin)) fail(`CARECERT_BIN=${bin} does not exist (cargo build -p carecert)`);
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromium)) fail(`${chromium} not found (Debian package chromium)`);
if (!existsSync(join(here, 'node_modules', 'playwright-core'))) {
  fail('playwright-core is not installed: (cd web-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)');
}

const files = readdirSync(join(here, 'tests'))
  .filter((f) => f.endsWith('.test.mjs'))
  .sort()
  .map((f) => join('tests', f));
if (files.length === 0) fail('no tests/*.test.mjs');

mkdirSync(artifacts, { recursive: true });
const tap = join(artifacts, 'results.tap');
const args = [
  '--test',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tap}`,
  // Each file starts its own server and browser; on 2 cores, one file at a time.
  '--test-concurrency=1',
  '--test-timeout=300000',
];
const pattern = process.argv[2];
if (pattern) args.push(`--test-name-pattern=${pattern}`);
args.push(...files);

console.log(`web-tests: ${files.length} file(s): ${files.join(' ')}`);
const started = Date.now();
const r = spawnSync(process.execPath, args, { cwd: here, stdio: 'inherit', env: process.env });
const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (r.error) fail(`could not run node --test: ${r.error.message}`);

// The TAP report ends with "# tests N", "# pass N", "# fail N", "# skipped N", ...
const counts = {};
if (existsSync(tap)) {
  for (const m of readFileSync(tap, 'utf8').matchAll(/^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) {
    counts[m[1]] = Number(m[2]);
  }
}
const passed = counts.pass ?? 0;
const failed = (counts.fail ?? 0) + (counts.cancelled ?? 0);
const skipped = (counts.skipped ?? 0) + (counts.todo ?? 0);
console.log(`\nweb-tests: ${files.length} file(s) in ${seconds} s; screenshots and server logs in ${artifacts}`);
console.log(`web-tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (r.status !== 0 || failed > 0) process.exit(r.status || 1);
if (passed === 0) fail('no test ran');
