// focus.test.js — keyboard focus survives live redraws: the host page's Jobs
// tab re-drawn by a job event from the live stream, and the Users table
// re-drawn after each change, give the focus back to the same logical
// control (found by its row's data-key and its name).  The host is enrolled
// by the harness's fetch-based protocol agent, which sends job events like
// the real agent (no restic needed).
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
  agent = await enrolFakeAgent(admin, 'focus-1');
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); }
});

/** The focused element: tag, href/aria-label, its row's data-key, and whether
 *  it is the very node `marker` was set on (false after a redraw). */
const focusInfo = (page) => page.evaluate(() => {
  const a = document.activeElement;
  const row = a && a.parentElement && a.parentElement.closest('[data-key]');
  return { tag: a && a.tagName, href: a && a.getAttribute('href'), label: a && a.getAttribute('aria-label'), text: a && a.textContent.trim(),
    row: row ? row.getAttribute('data-key') : null, old: !!(a && a.dataset.marker) };
});

test('host Jobs tab: a live redraw after a job finishes keeps the keyboard focus', async () => {
  const first = await queueJob();
  await agent.send([{ type: 'job.started', job_id: first, kind: 'backup', actor: 'user' },
    { type: 'job.finished', job_id: first, status: 'succeeded', exit_code: 0 }]);
  const second = await queueJob();
  await agent.send([{ type: 'job.started', job_id: second, kind: 'backup', actor: 'user' }]);
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${agent.id}/jobs`);
  const link = page.locator(`tr[data-key="job-${first}"] a[href="#/jobs/${first}"]`);
  await link.waitFor();
  await page.locator(`tr[data-key="job-${second}"]`, { hasText: 'running' }).waitFor();
  await link.focus();
  await link.evaluate((el) => { el.dataset.marker = '1'; });
  assert.equal((await focusInfo(page)).href, `#/jobs/${first}`);
  // the running job finishes: the tab re-draws from the live event stream
  await agent.send([{ type: 'job.finished', job_id: second, status: 'succeeded', exit_code: 0 }]);
  await page.locator(`tr[data-key="job-${second}"]`, { hasText: 'succeeded' }).waitFor();
  const f = await focusInfo(page);
  assert.equal(f.old, false, 'the tab was re-drawn (new nodes)');
  assert.deepEqual([f.tag, f.href, f.row], ['A', `#/jobs/${first}`, `job-${first}`]);
  await done(page);
});

test('Users table: the focus stays on the same control after a change re-draws it', async () => {
  const r = await admin.post('/api/v1/users', { username: 'focus-user', password: 'focus-user password 1', role: 'viewer' });
  assert.equal(r.status, 201, r.text);
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto('/#/users');
  const toggle = page.getByRole('button', { name: 'Disable user focus-user' });
  await toggle.focus();
  await toggle.evaluate((el) => { el.dataset.marker = '1'; });
  await page.keyboard.press('Enter');
  await page.locator('#confirm-ok').click();
  await page.getByRole('button', { name: 'Enable user focus-user' }).waitFor();
  // the toast is announced politely
  assert.deepEqual(await page.locator('#toasts').evaluate((el) => [el.getAttribute('role'), el.getAttribute('aria-live'), el.textContent]),
    ['status', 'polite', 'User disabled']);
  await waitFor(async () => (await focusInfo(page)).label === 'Enable user focus-user', { what: 'focus back on the toggle' });
  const f = await focusInfo(page);
  assert.equal(f.old, false, 'the table was re-drawn');
  assert.equal(f.row, `user-${r.json.id ?? r.json.user?.id}`);
  // keyboard again: the role select keeps the focus across its redraw too
  const sel = page.getByLabel('Role of focus-user', { exact: true });
  await sel.focus();
  await sel.selectOption('operator');
  await page.locator('#confirm-ok').click();
  await waitFor(async () => (await page.getByLabel('Role of focus-user', { exact: true }).inputValue()) === 'operator' && (await focusInfo(page)).label === 'Role of focus-user',
    { what: 'focus back on the role select' });
  await done(page);
});

