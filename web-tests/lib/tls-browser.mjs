// Child process of tests/certificate-session.test.mjs: Chromium presenting the card's TLS client
// certificate (Playwright's clientCertificates, whose Node-side proxy checks the server against
// NODE_EXTRA_CA_CERTS — read when node starts, hence a process of its own). Logs in with
// "Log in with my certificate", lets the page hand its presence token to the agent, closes the
// page's event stream, pulls the card, then asks for a page: it must be refused.
// Config: JSON in env TLS_BROWSER {https, rootPem, certPath, keyPath, tokenDir}. Prints one JSON
// line with what it saw; exits 0 when it ran to the end.
import { renameSync } from 'node:fs';
import { launchBrowser, screenshot } from './harness.mjs';

const cfg = JSON.parse(process.env.TLS_BROWSER);
const seen = {};
const b = await launchBrowser({
  server: { rootPem: cfg.rootPem },
  contextOptions: { clientCertificates: [{ origin: cfg.https, certPath: cfg.certPath, keyPath: cfg.keyPath }] },
});
try {
  const page = await b.context.newPage();
  await page.goto(`${cfg.https}/portal/login`);
  await page.click('#certificate-login');
  await page.waitForURL('**/portal/');
  seen.welcome = await page.textContent('#welcome');
  seen.presence = await page.locator('#presence').count();
  // Longer than the heartbeat grace: only an agent watching keeps it alive this long... and the
  // card page still answers.
  await page.waitForTimeout(3000);
  await page.goto(`${cfg.https}/portal/card`);
  seen.cardPage = page.url();
  seen.serial = (await page.textContent('#card-serial').catch(() => '')).trim();
  await screenshot(page, 'certificate-session-my-card');
  // No event stream open: the page is gone.
  await page.goto('about:blank');
  const pulledAt = Date.now();
  renameSync(cfg.tokenDir, `${cfg.tokenDir}.pulled`);
  await new Promise((r) => setTimeout(r, 1500));
  const resp = await page.goto(`${cfg.https}/portal/card`);
  seen.afterPull = page.url();
  seen.afterPullStatus = resp?.status();
  seen.why = await page.textContent('#why').catch(() => '');
  seen.msAfterPull = Date.now() - pulledAt;
  renameSync(`${cfg.tokenDir}.pulled`, cfg.tokenDir);
} finally {
  await b.close();
}
console.log(JSON.stringify(seen));
