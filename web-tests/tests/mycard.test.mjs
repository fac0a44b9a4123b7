// "My card" in Chromium with the real agent on SoftHSM2 and the scripted passcode dialog
// (pinentry): the status page and the home page's renewal announcement; change passcode;
// Update My Card with each certificate's Pending → Writing → Done seen in the page, Next between
// them, the confirmation, `openssl verify` of the new certificates and OCSP "revoked" for the
// old; Cancel in the dialog changing nothing; the card pulled between the certificates
// ("completed with errors", old certificates intact, retry succeeds); three wrong passcodes
// typed into the dialog locking the card, then the unlock by an emailed code entered on the
// page; a sponsor unlocking another card in a second reader.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { admin, apiRequest, freePort, launchBrowser, screenshot, startServer } from '../lib/harness.mjs';
import { enrolWorkstation, issueCard, lockCard, pullCard, softhsm } from '../lib/cards.mjs';
import {
  answer, cardCertificate, codeIn, dialogLog, listObjects, ocsp, serialOf, smtpServer, startDialogAgent, verify,
} from '../lib/mycard.mjs';

let server, browser, hsm, agentPort, smtp, ws, ada, sam, lou;
let adaPass = '123456';

before(async () => {
  agentPort = await freePort();
  smtp = await smtpServer();
  server = await startServer({
    name: 'mycard',
    extraArgs: ['--agent-url', `http://127.0.0.1:${agentPort}`, '--smtp', smtp.relay, '--unlock-email-domain', 'nhs.net',
      // Certificates of 60 days: renewal (90 days before expiry) is open at once.
      '--card-certificate-days', '60'],
  });
  browser = await launchBrowser({ server });
  hsm = softhsm(server);
  ws = await enrolWorkstation(server, '5550001');
  await admin(server, ['user', 'add', '--uid', '12', '--name', 'Dr Ada Jones', '--email', 'ada.jones@nhs.net', '--organisation', 'RA1']);
  await admin(server, ['user', 'add', '--uid', '34', '--name', 'Sam Sponsor', '--email', 'sam@nhs.net', '--organisation', 'RA1']);
  await admin(server, ['user', 'add', '--uid', '56', '--name', 'Lou Locked', '--organisation', 'RA1']);
  await admin(server, ['sponsor', 'grant', '--uid', '34', '--organisation', 'RA1']);
  // Ada logs in with her card, or with a password (a session the pulled card does not end).
  const a = await apiRequest(server, '/api/v1/admin/web-accounts', {
    method: 'POST', token: true,
    body: { username: 'ada', name: 'Dr Ada Jones', uid: '12', roles: ['portal:clinician'], password: 'ada long password' },
  });
  assert.equal(a.status, 201, a.text);
  await admin(server, ['account', 'add', '--username', 'sam', '--name', 'Sam Sponsor', '--uid', '34', '--role', 'portal:clinician']);
  ada = issueCard(server, hsm, '12', adaPass);
  sam = issueCard(server, hsm, '34', '654321');
  lou = issueCard(server, hsm, '56', '565656');
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.stop();
});

async function withAgent(opts, fn) {
  const agent = await startDialogAgent(server, hsm, { origin: server.https, port: agentPort, workstation: ws, ...opts });
  try {
    return await fn(agent);
  } catch (e) {
    throw new Error(`${e.stack}\nagent output:\n${agent.output()}\ndialog: ${JSON.stringify(dialogLog(agent))}`);
  } finally {
    await agent.stop();
  }
}

/** Waits for `sel` to show; on a timeout, says what the page said instead. */
async function shown(page, sel, timeout = 60_000) {
  try {
    await page.locator(sel).waitFor({ state: 'visible', timeout });
  } catch (e) {
    const said = await page.evaluate(() => [...document.querySelectorAll('[role=status], [role=alert]')]
      .filter((el) => !el.closest('[hidden]')).map((el) => `${el.id}: ${el.textContent.trim()}`).join('\n'));
    throw new Error(`${e.message}\nthe page said:\n${said}`);
  }
}

async function smartcardLogin(page) {
  await page.goto(`${server.https}/portal/login`);
  await page.click('#smartcard-login');
  await page.waitForURL('**/portal/');
}

async function passwordLogin(page) {
  await page.goto(`${server.https}/portal/login`);
  await page.fill('input[name=username]', 'ada');
  await page.fill('input[name=password]', 'ada long password');
  await page.click('form[action="/portal/login"] button');
  await page.waitForURL('**/portal/');
}

/** The card's two certificates as PEM files (tag names the copy). */
function certs(tag) {
  return {
    auth: cardCertificate(hsm, 'card-12', '01', join(server.dataDir, `ada-auth-${tag}.pem`)),
    sign: cardCertificate(hsm, 'card-12', '02', join(server.dataDir, `ada-sign-${tag}.pem`)),
  };
}

test('My card shows the status; the home page announces the renewal; the passcode changes in the dialog', async () => {
  await withAgent({ card: ada.serial }, async (agent) => {
    const page = await browser.context.newPage();
    answer(agent, adaPass);
    await smartcardLogin(page);
    // The dialog named the card and its holder.
    const told = JSON.stringify(dialogLog(agent));
    assert.match(told, new RegExp(ada.serial), told);
    const due = await page.textContent('#renewal-due');
    assert.match(due, /expire on \d{4}-\d{2}-\d{2}/);
    assert.match(due, /Update My Card/);
    await screenshot(page, 'portal-home');
    await page.click('#my-card');
    await page.waitForURL('**/portal/card');
    assert.equal((await page.textContent('#holder')).trim(), 'Dr Ada Jones');
    assert.equal((await page.textContent('#card-serial')).trim(), ada.serial);
    assert.match(await page.textContent('#card-state'), /Active/);
    assert.match(await page.textContent('#auth-expiry'), /\d{4}-\d{2}-\d{2}/);
    assert.match(await page.textContent('#sign-serial'), /[0-9A-F]{8,}/i);
    assert.equal((await page.textContent('#tries-left')).trim(), '3 of 3');
    assert.equal((await page.textContent('#renewals-used')).trim(), '0 of 2');
    assert.match(await page.textContent('#next-step'), /Update My Card/);
    await screenshot(page, 'my-card');

    await page.goto(`${server.https}/portal/card/passcode`);
    answer(agent, adaPass, '246810', '246810');
    // By keyboard alone: Tab to the button, Enter.
    for (let i = 0; i < 20 && await page.evaluate(() => document.activeElement?.id) !== 'change-passcode'; i++) {
      await page.keyboard.press('Tab');
    }
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'change-passcode', 'the button is reachable by Tab');
    await page.keyboard.press('Enter');
    await shown(page, '#passcode-done', 30_000);
    adaPass = '246810';
    assert.match(listObjects(hsm, 'card-12', adaPass), /Certificate Object/, 'the new passcode opens the card');
  });
});

test('Update My Card: Cancel in the dialog changes nothing; then Pending → Writing → Done for both, Next, confirmation', async () => {
  await withAgent({ card: ada.serial }, async (agent) => {
    const page = await browser.context.newPage();
    await passwordLogin(page);
    const before = certs('before');
    await page.goto(`${server.https}/portal/card/renew`);
    assert.match(await page.textContent('#renewal-open'), /expire on/);

    // Cancel in the passcode dialog: aborted, said so, nothing changed.
    answer(agent, 'CANCEL');
    await page.click('#renew-start');
    await shown(page, '#renew-error', 30_000);
    assert.match(await page.textContent('#renew-error'), /Cancelled.*nothing was changed/s);
    const same = certs('after-cancel');
    assert.equal(serialOf(same.auth), serialOf(before.auth));
    assert.equal(serialOf(same.sign), serialOf(before.sign));

    // The update, watched in the page.
    await page.evaluate(() => {
      window.seen = { 'auth-state': [], 'sign-state': [] };
      for (const id of Object.keys(window.seen)) {
        const el = document.getElementById(id);
        window.seen[id].push(el.textContent);
        new MutationObserver(() => {
          const list = window.seen[id];
          if (list[list.length - 1] !== el.textContent) list.push(el.textContent);
        }).observe(el, { childList: true, characterData: true, subtree: true });
      }
    });
    answer(agent, adaPass);
    await page.click('#renew-start');
    await shown(page, '#renew-next', 60_000);
    assert.match(await page.textContent('#creating'), /Creating card/);
    assert.equal((await page.textContent('#auth-state')).trim(), 'Done');
    assert.equal((await page.textContent('#sign-state')).trim(), 'Pending');
    await screenshot(page, 'update-my-card-progress');
    await page.click('#renew-next');
    await shown(page, '#renew-done', 60_000);
    const seen = await page.evaluate(() => window.seen);
    assert.deepEqual(seen['auth-state'], ['Pending', 'Writing', 'Done'], JSON.stringify(seen));
    assert.deepEqual(seen['sign-state'], ['Pending', 'Writing', 'Done'], JSON.stringify(seen));
    await page.waitForFunction(() => document.getElementById('new-auth-serial').textContent.length > 0);
    await screenshot(page, 'update-my-card-done');

    // New certificates on the card, valid; the old ones revoked.
    const now = certs('after');
    assert.notEqual(serialOf(now.auth), serialOf(before.auth));
    assert.notEqual(serialOf(now.sign), serialOf(before.sign));
    assert.equal((await page.textContent('#new-auth-serial')).trim().toUpperCase().replace(/^0+/, ''), serialOf(now.auth).replace(/^0+/, ''));
    for (const c of [now.auth, now.sign]) assert.match(verify(server, c), /OK/);
    for (const c of [before.auth, before.sign]) assert.match(ocsp(server, c), /: revoked/);
    assert.equal((await page.textContent('#new-renewals-left')).trim(), '1');
  });
});

test('Update My Card with the card pulled between the certificates: completed with errors, old certificates intact, retry succeeds', async () => {
  const page = await browser.context.newPage();
  let before;
  await withAgent({ card: ada.serial }, async (agent) => {
    await passwordLogin(page);
    before = certs('before-pull');
    await page.goto(`${server.https}/portal/card/renew`);
    answer(agent, adaPass);
    await page.click('#renew-start');
    await shown(page, '#renew-next', 60_000);
    const putBack = pullCard(ada.dir);
    await page.click('#renew-next');
    await shown(page, '#renew-error', 60_000);
    putBack();
    assert.match(await page.textContent('#renew-error'), /completed with errors — your old certificates are unchanged, try again/);
    await page.locator('#renew-retry').waitFor({ state: 'visible' });
    const kept = certs('kept');
    assert.equal(serialOf(kept.auth), serialOf(before.auth));
    assert.equal(serialOf(kept.sign), serialOf(before.sign));
    assert.doesNotMatch(ocsp(server, kept.auth), /: revoked/);
  });
  // The card is back. (A running agent does not see a SoftHSM2 token come back into its
  // "reader": SoftHSM2 reads its token directory once. A new agent process stands in for the
  // card put back into the reader; the page is the same, the retry a new job.)
  await withAgent({ card: ada.serial }, async (agent) => {
    answer(agent, adaPass);
    await page.click('#renew-retry');
    await shown(page, '#renew-next', 60_000);
    await page.click('#renew-next');
    await shown(page, '#renew-done', 60_000);
    const now = certs('after-retry');
    assert.notEqual(serialOf(now.auth), serialOf(before.auth));
    // The pulled attempt's pending objects are gone: two keys, two certificates.
    const listing = listObjects(hsm, 'card-12', adaPass);
    assert.equal(listing.match(/Certificate Object/g).length, 2, listing);
    assert.equal(listing.match(/Private Key Object/g).length, 2, listing);
    for (const c of [now.auth, now.sign]) assert.match(verify(server, c), /OK/);

    // Two remote renewals used: the third needs the RA, and the page says why.
    await page.goto(`${server.https}/portal/card/renew`);
    assert.match(await page.textContent('#visit-ra'), /Registration Authority/);
    assert.match(await page.textContent('#visit-ra'), /identity/);
  });
});

test('three wrong passcodes in the dialog lock the card; the emailed code entered on the page unlocks it', async () => {
  await withAgent({ card: ada.serial }, async (agent) => {
    const page = await browser.context.newPage();
    answer(agent, '000000', '000000', '000000');
    for (let i = 0; i < 3; i++) {
      await page.goto(`${server.https}/portal/login`);
      await page.click('#smartcard-login');
      await page.waitForURL('**/portal/refused**');
      if (/locked/.test(await page.textContent('#why'))) break;
    }
    assert.match(await page.textContent('#why'), /locked/);
    assert.equal(await page.locator('#unlock-link').count(), 1, 'the refusal offers the unlock');
    const state = await apiRequest(server, `/api/v1/cards/${ada.serial}`);
    assert.equal(state.json().status, 'locked', state.text);
    assert.match(JSON.stringify(dialogLog(agent)), /tr(y|ies) left/i, 'the dialog said the tries left');

    // The Smartcard Service Centre: no session; the page finds the card in the reader.
    await page.goto(`${server.https}/portal/unlock`);
    await page.waitForURL(`**/portal/unlock?serial=${ada.serial}`);
    assert.equal((await page.textContent('#unlock-serial')).trim(), ada.serial);
    assert.equal(await page.locator('input[name=channel][value=sms]').count(), 0, 'no mobile on record: no SMS');
    await page.check('input[name=channel][value=email]');
    await page.click('#send-code');
    await page.locator('#code').waitFor();
    assert.match(await page.textContent('#code-sent'), /ad\*\*\*@nhs\.net/);
    const code = codeIn(await smtp.next());

    answer(agent, '135790', '135790', '135790', '135790');
    await page.fill('#code', '00000000');
    await page.click('#unlock-start');
    await shown(page, '#unlock-error', 30_000);
    assert.match(await page.textContent('#unlock-error'), /code/i);
    assert.equal((await apiRequest(server, `/api/v1/cards/${ada.serial}`)).json().status, 'locked');

    answer(agent, '135790', '135790');
    await page.fill('#code', code);
    await page.click('#unlock-start');
    await shown(page, '#unlock-done', 30_000);
    adaPass = '135790';
    assert.equal((await apiRequest(server, `/api/v1/cards/${ada.serial}`)).json().status, 'active');
    assert.match(listObjects(hsm, 'card-12', adaPass), /Certificate Object/, 'the new passcode opens the card');
  });
});

test('a sponsor logged in with their card unlocks a card in the second reader', async () => {
  lockCard(server, hsm, lou.serial, ws);
  assert.equal((await apiRequest(server, `/api/v1/cards/${lou.serial}`)).json().status, 'locked');
  await withAgent({ card: sam.serial, name: 'sponsor' }, async (agent) => {
    const second = await launchBrowser({ server });
    try {
      const page = await second.context.newPage();
      answer(agent, '654321');
      await smartcardLogin(page);
      await page.goto(`${server.https}/portal/card/sponsor`);
      await page.locator(`input[name=card][value="${lou.serial}"]`).waitFor({ timeout: 10_000 });
      await page.check(`input[name=card][value="${lou.serial}"]`);
      answer(agent, '654321', '121212', '121212');
      await page.click('#sponsor-unlock');
      await shown(page, '#sponsor-done', 30_000);
      assert.match(await page.textContent('#sponsor-done-text'), new RegExp(lou.serial));
      assert.equal((await apiRequest(server, `/api/v1/cards/${lou.serial}`)).json().status, 'active');
      assert.match(listObjects(hsm, 'card-56', '121212'), /Certificate Object/);
    } finally {
      await second.close();
    }
  });
});
