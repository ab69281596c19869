// settings.test.js — the host Settings tab (display name, tags editor,
// bandwidth limits, delete for admins with typed confirmation), the
// dashboard's fleet strip (repository size, failures in 24 h) and host rows
// (repository size, snapshot count, tag filter with edited tags), and what
// viewers and operators see.  The hosts are enrolled through the agent
// protocol by a tiny fetch-based agent here (no restic needed): it reports
// repository stats, snapshots and a failed job like the real agent does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, Client, ADMIN, launchBrowser, newPage, done, shot, uiLogin, bootstrapAdmin, unlabelledControls, enrolFakeAgent } from './harness.js';

let server, browser, admin;
const hosts = {};

async function userPage(username, role) {
  const r = await admin.post('/api/v1/users', { username, password: `${username} password 1`, role });
  assert.equal(r.status, 201, r.text);
  const page = await newPage(browser, server);
  await uiLogin(page, username, `${username} password 1`);
  return page;
}

before(async () => {
  server = await new Server().start();
  admin = await bootstrapAdmin(server);
  browser = await launchBrowser();
  // db-1: 3 GiB repository, 2 snapshots, one failed backup; web-1: 1 GiB, no snapshots.
  hosts.db = await enrolFakeAgent(admin, 'db-1');
  hosts.web = await enrolFakeAgent(admin, 'web-1');
  await hosts.db.send([{ type: 'repo.stats', raw_size: 3 * 1024 ** 3, total_size: 9 * 1024 ** 3 },
    { type: 'snapshots', snapshots: [
      { id: 'a'.repeat(64), short_id: 'aaaaaaaa', time: '2026-11-20T01:00:00Z', paths: ['/etc'], hostname: 'db-1' },
      { id: 'b'.repeat(64), short_id: 'bbbbbbbb', time: '2026-11-21T01:00:00Z', paths: ['/etc'], hostname: 'db-1' }] }]);
  await hosts.web.send([{ type: 'repo.stats', raw_size: 1024 ** 3 }]);
  const job = await admin.post(`/api/v1/hosts/${hosts.db.id}/jobs`, { kind: 'check' });
  assert.equal(job.status, 201, job.text);
  await hosts.db.send([{ type: 'job.started', job_id: job.json.id, kind: 'check', actor: 'user' },
    { type: 'job.finished', job_id: job.json.id, status: 'failed', exit_code: 1, error: 'Fatal: pack damaged' }]);
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); }
});

test('dashboard: fleet strip shows repository size and 24 h failures; rows show size and snapshots', async () => {
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const strip = page.getByRole('region', { name: 'Fleet summary' });
  await strip.waitFor();
  const tile = (label) => strip.locator('.stat', { has: page.locator('.stat-label', { hasText: label }) }).locator('.stat-value');
  assert.equal(await tile('repository size').textContent(), '4.00 GiB');
  assert.equal(await tile('failures (24 h)').textContent(), '1');
  assert.match(await strip.textContent(), /2 snapshots/);
  const row = page.locator('tbody tr', { has: page.locator('a.host-link', { hasText: 'db-1' }) });
  assert.equal(await row.locator('td[data-label="Repo size"]').textContent(), '3.00 GiB');
  assert.equal(await row.locator('td[data-label="Snapshots"]').textContent(), '2');
  const web = page.locator('tbody tr', { has: page.locator('a.host-link', { hasText: 'web-1' }) });
  assert.equal(await web.locator('td[data-label="Repo size"]').textContent(), '1.00 GiB');
  await shot(page, 'dashboard-fleet-strip');
  await done(page);
});

test('settings tab: edit tags, name and limits; the dashboard filters by the edited tag', async () => {
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const id = hosts.db.id;
  await page.goto(`/#/hosts/${id}/settings`);
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  assert.deepEqual(await unlabelledControls(page), []);
  // Tags: Enter and comma add, × removes, duplicates are ignored.
  const tagIn = page.getByLabel('Add tags (Enter or comma adds)');
  await tagIn.fill('prod');
  await tagIn.press('Enter');
  await tagIn.fill('eu-west, scratch, prod');
  await page.getByRole('button', { name: 'Add tag' }).click();
  const chips = page.getByRole('list', { name: 'Tags' }).getByRole('listitem');
  assert.deepEqual(await chips.allTextContents(), ['prod×', 'eu-west×', 'scratch×']);
  await page.getByRole('button', { name: 'Remove tag scratch' }).click();
  assert.equal(await chips.count(), 2);
  // Limits: a bad value is refused before anything is sent.
  const up = page.getByLabel('Upload limit (KiB/s)');
  await up.fill('-3');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('alert').filter({ hasText: 'Upload limit: a whole number' }).waitFor();
  assert.deepEqual((await admin.get(`/api/v1/hosts/${id}`)).json.tags, []);
  await up.fill('2048');
  await page.getByText('≈ 2.00 MiB/s').waitFor();
  await page.getByLabel('Display name').fill('db-1 (primary)');
  await shot(page, 'host-settings-edit');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('.toast', { hasText: 'Settings saved' }).waitFor();
  const h = (await admin.get(`/api/v1/hosts/${id}`)).json;
  assert.deepEqual(h.tags, ['prod', 'eu-west']);
  assert.equal(h.limit_upload_kib, 2048);
  assert.equal(h.limit_download_kib, 0);
  assert.equal(h.name, 'db-1 (primary)');
  // The header follows (fleet stream) and the form shows the stored values.
  await page.getByRole('heading', { name: 'db-1 (primary)', level: 1 }).waitFor();
  assert.equal(await page.getByLabel('Upload limit (KiB/s)').inputValue(), '2048');
  // Dashboard: the edited tag is in the tag filter and selects this host only.
  await page.goto('/#/');
  await page.locator('a.host-link', { hasText: 'web-1' }).waitFor();
  const tagSel = page.getByLabel('Tag', { exact: true });
  assert.deepEqual(await tagSel.locator('option').allTextContents(), ['All tags', 'eu-west', 'prod']);
  await tagSel.selectOption('eu-west');
  await page.getByText('1 shown · 1 of 2 hosts match').waitFor();
  assert.deepEqual(await page.locator('a.host-link').allTextContents(), ['db-1 (primary)']);
  await done(page);
});

test('a viewer sees settings but no write controls; an operator cannot delete', async () => {
  const v = await userPage('vic', 'viewer');
  await v.goto(`/#/hosts/${hosts.db.id}/settings`);
  await v.getByRole('heading', { name: 'Settings' }).waitFor();
  await v.getByText('Operators can change these settings.').waitFor();
  assert.match(await v.locator('.tab-body').textContent(), /2,048 KiB\/s/);
  for (const role of ['textbox', 'spinbutton', 'button'])
    assert.equal(await v.locator('.tab-body').getByRole(role).count(), 0, `viewer sees a ${role}`);
  await shot(v, 'host-settings-viewer');
  await done(v);
  const o = await userPage('olga', 'operator');
  await o.goto(`/#/hosts/${hosts.web.id}/settings`);
  await o.getByRole('button', { name: 'Save settings' }).waitFor();
  assert.equal(await o.getByRole('button', { name: 'Delete host…' }).count(), 0);
  await o.getByLabel('Download limit (KiB/s)').fill('512');
  await o.getByRole('button', { name: 'Save settings' }).click();
  await o.locator('.toast', { hasText: 'Settings saved' }).waitFor();
  assert.equal((await admin.get(`/api/v1/hosts/${hosts.web.id}`)).json.limit_download_kib, 512);
  await done(o);
});

test('an admin deletes a host after typing its name', async () => {
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${hosts.web.id}/settings`);
  await page.getByRole('button', { name: 'Delete host…' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  const ok = dlg.getByRole('button', { name: 'Delete host' });
  assert.ok(await ok.isDisabled());
  await dlg.getByLabel('Type “web-1” to confirm').fill('web-2');
  assert.ok(await ok.isDisabled());
  await dlg.getByLabel('Type “web-1” to confirm').fill('web-1');
  await ok.click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.locator('a.host-link', { hasText: 'db-1' }).waitFor();
  await page.locator('a.host-link', { hasText: 'web-1' }).waitFor({ state: 'detached' });
  assert.equal((await admin.get(`/api/v1/hosts/${hosts.web.id}`)).status, 404);
  await done(page);
});

test('API: PATCH needs the CSRF header with a cookie session', async () => {
  const c = new Client(server);
  await c.login(ADMIN.username, ADMIN.password);
  c.csrf = null;
  const r = await c.req('PATCH', `/api/v1/hosts/${hosts.db.id}`, { tags: ['x'] });
  assert.equal(r.status, 403);
});
