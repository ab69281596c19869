// live.test.js — screen-reader announcements on the job page: a polite
// status region for job state changes, and a real progressbar (role,
// aria-valuenow/min/max, aria-valuetext).  Job events come from the
// harness's fetch-based protocol agent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ADMIN, launchBrowser, newPage, done, uiLogin, bootstrapAdmin, waitFor, enrolFakeAgent } from './harness.js';

let server, browser, admin, agent;

async function queueJob(kind = 'backup') {
  const r = await admin.post(`/api/v1/hosts/${agent.id}/jobs`, { kind, ...(kind === 'backup' ? { paths: ['/etc'] } : {}) });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

before(async () => {
  server = await new Server().start();
  admin = await bootstrapAdmin(server);
  browser = await launchBrowser();
  agent = await enrolFakeAgent(admin, 'live-1');
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); }
});

test('job page: a real progressbar and polite announcements of state changes', async () => {
  const id = await queueJob();
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/jobs/${id}`);
  const bar = page.getByRole('progressbar', { name: 'Job progress' });
  await bar.waitFor({ state: 'attached' });
  const live = page.locator('[data-role="job-announce"]');
  assert.deepEqual(await live.evaluate((el) => [el.getAttribute('role'), el.getAttribute('aria-live'), el.textContent]), ['status', 'polite', '']);
  await agent.send([{ type: 'job.started', job_id: id, kind: 'backup', actor: 'user' }]);
  await waitFor(async () => /running/.test(await live.textContent()), { what: 'running announced' });
  await agent.send([{ type: 'job.progress', job_id: id, percent: 40, files_done: 4, total_files: 10, bytes_done: 4096, total_bytes: 10240, seconds_remaining: 30 }]);
  await waitFor(async () => (await bar.getAttribute('aria-valuenow')) === '40', { what: 'aria-valuenow 40' });
  assert.equal(await bar.getAttribute('aria-valuemin'), '0');
  assert.equal(await bar.getAttribute('aria-valuemax'), '100');
  assert.equal(await bar.getAttribute('aria-valuetext'), '40%, 4 of 10 files, 30 s left');
  await agent.send([{ type: 'job.finished', job_id: id, status: 'succeeded', exit_code: 0 }]);
  await waitFor(async () => /succeeded/.test(await live.textContent()), { what: 'succeeded announced' });
  assert.equal(await bar.getAttribute('aria-valuenow'), '100');
  assert.match(await bar.getAttribute('aria-valuetext'), /^100%/);
  await done(page);
});

