// The agent's local API as a portal page uses it, in Chromium: a cross-origin JSON POST (CORS
// preflight), a job's server-sent events through EventSource, and the passcode typed only into
// the agent's own dialog (the scripted pinentry), which names the card, the holder and the
// tries left.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, freePort, launchBrowser, startServer } from '../lib/harness.mjs';
import { issueCard, softhsm, startAgent } from '../lib/cards.mjs';

let server, browser, hsm, agentPort, card;

before(async () => {
  agentPort = await freePort();
  server = await startServer({ name: 'agent-jobs', extraArgs: ['--agent-url', `http://127.0.0.1:${agentPort}`] });
  browser = await launchBrowser({ server });
  hsm = softhsm(server);
  await admin(server, ['user', 'add', '--uid', '41', '--name', 'Dr Jo Bloggs', '--organisation', 'RA1']);
  card = issueCard(server, hsm, '41', '414141');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** In the page: POST a job, follow its events until done or failed; returns [[event, data]…]. */
function runJob(page, agentUrl, job) {
  return page.evaluate(async ({ agentUrl, job }) => {
    const r = await fetch(`${agentUrl}/v1/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(job) });
    if (r.status !== 202) return [['http', r.status, await r.text()]];
    const { job: id } = await r.json();
    return new Promise((resolve) => {
      const seen = [];
      const es = new EventSource(`${agentUrl}/v1/jobs/${id}/events`);
      for (const name of ['step', 'waiting', 'done', 'failed']) {
        es.addEventListener(name, (e) => {
          seen.push([name, JSON.parse(e.data)]);
          if (name === 'done' || name === 'failed') { es.close(); resolve(seen); }
        });
      }
      setTimeout(() => { es.close(); resolve([...seen, ['timeout']]); }, 30000);
    });
  }, { agentUrl, job });
}

test('a portal page runs a change of passcode through the agent: CORS, server-sent events, the dialog', async () => {
  const agent = await startAgent(server, hsm, { card: card.serial, origin: server.https, port: agentPort });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.https}/portal/login`); // a portal page: its CSP lets it reach the agent
    const seen = await page.evaluate(async (u) => (await fetch(`${u}/v1/card`)).json(), agent.url);
    assert.deepEqual(seen, { serial: card.serial, label: 'card-41', present: true });

    agent.answer(['CANCEL']);
    let events = await runJob(page, agent.url, { task: 'change-passcode' });
    assert.deepEqual(events.at(-1)[0], 'failed', JSON.stringify(events));
    assert.equal(events.at(-1)[1].error, 'cancelled');
    assert.equal(events.at(-1)[1].unchanged, true);

    agent.answer(['000000', '414141', '424242', '424242']);
    events = await runJob(page, agent.url, { task: 'change-passcode' });
    assert.deepEqual(events.at(-1), ['done', { changed: true }], JSON.stringify(events));
    const asked = agent.asked();
    const descs = asked.filter((a) => a.command === 'SETDESC').map((a) => a.text);
    assert.ok(descs.every((d) => d.includes(card.serial) && d.includes('Dr Jo Bloggs')), JSON.stringify(descs));
    assert.ok(asked.some((a) => a.command === 'SETERROR' && a.text.startsWith('Wrong passcode')), JSON.stringify(asked));
    // The page never saw a passcode: nothing it received carries one.
    assert.ok(!JSON.stringify(events).includes('424242') && !JSON.stringify(events).includes('414141'));
  } finally {
    await agent.stop();
  }
});
