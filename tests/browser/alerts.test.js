// alerts.test.js — the Alerts page (open/resolved, per host, live), the
// open-alert badge on dashboard rows and the fleet strip, and the admin
// Notification channels page: create a webhook channel through the form,
// send a test (a tiny HTTP receiver here is the target), read the delivery
// log, edit it (the secret stays write-only), delete it after confirming.
// Hosts speak the agent protocol through a small fetch-based agent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Server, Client, ADMIN, launchBrowser, newPage, done, shot, uiLogin, bootstrapAdmin, unlabelledControls, clippedControls, waitFor, FakeAgent, enrolFakeAgent } from './harness.js';

let server, browser, admin, receiver, host;
const received = [];
const TOKEN = 'browser-webhook-token-Qz81';

/** The fake agent, plus a backup job it runs to the given end. */
class AlertsAgent extends FakeAgent {
  async backup(status) {
    const job = await admin.post(`/api/v1/hosts/${this.id}/jobs`, { kind: 'backup', paths: ['/etc'] });
    assert.equal(job.status, 201, job.text);
    await this.send([{ type: 'job.started', job_id: job.json.id, kind: 'backup', actor: 'user' },
      { type: 'job.finished', job_id: job.json.id, status, exit_code: status === 'failed' ? 1 : 0, ...(status === 'failed' ? { error: 'Fatal: <b>disk</b> full' } : {}) }]);
  }
}

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { received.push({ url: req.url, headers: req.headers, body }); res.writeHead(200); res.end('ok'); });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  server = await new Server().start();
  admin = await bootstrapAdmin(server);
  browser = await launchBrowser();
  host = await enrolFakeAgent(admin, 'mail-1', new AlertsAgent(server));
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); }
  if (receiver) receiver.close();
});

test('a failed backup shows on the Alerts page, the dashboard row and the strip; success resolves it', async () => {
  await host.backup('failed');
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const row = page.locator('tbody tr', { has: page.locator('a.host-link', { hasText: 'mail-1' }) });
  await row.getByRole('link', { name: '1 alert' }).waitFor();
  const strip = page.getByRole('region', { name: 'Fleet summary' });
  const tile = strip.locator('.stat', { has: page.locator('.stat-label', { hasText: 'open alerts' }) }).locator('.stat-value');
  assert.equal(await tile.textContent(), '1');
  await shot(page, 'dashboard-alert-badge');
  await row.getByRole('link', { name: '1 alert' }).click();
  await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
  const alertRow = page.locator('table.alerts tbody tr');
  await alertRow.first().waitFor();
  assert.equal(await alertRow.count(), 1);
  assert.match(await alertRow.textContent(), /mail-1/);
  assert.match(await alertRow.textContent(), /Backup failed/);
  // the agent's error text is shown as text, never as markup
  assert.match(await alertRow.locator('td[data-label="Message"]').textContent(), /Fatal: <b>disk<\/b> full/);
  assert.equal(await alertRow.locator('b').count(), 0);
  assert.deepEqual(await unlabelledControls(page), []);
  await shot(page, 'alerts-open');
  // live: a successful backup resolves it while the page is open
  await host.backup('succeeded');
  await page.getByText('No open alerts').waitFor();
  await page.getByLabel('Status').selectOption('resolved');
  await page.locator('table.alerts tbody tr', { hasText: 'resolved' }).waitFor();
  await done(page);
});

test('an admin adds a webhook channel, sends a test, reads the log, edits and deletes it', async () => {
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.getByRole('link', { name: 'Notifications' }).click();
  await page.getByRole('heading', { name: 'Notification channels' }).waitFor();
  await page.getByText('No channels yet').waitFor();
  await page.getByRole('button', { name: 'Add channel' }).click();
  const form = page.getByRole('form', { name: 'Add a notification channel' });
  await form.getByLabel('Name', { exact: true }).fill('ops hook');
  await form.getByLabel('URL', { exact: true }).fill(`http://127.0.0.1:${receiver.address().port}/hook`);
  await form.getByLabel('Bearer token (optional)').fill(TOKEN);
  await form.getByLabel('Backup failed').check();
  assert.deepEqual(await unlabelledControls(page), []);
  await shot(page, 'channel-form');
  await form.getByRole('button', { name: 'Add channel' }).click();
  await page.locator('.toast', { hasText: 'Channel ops hook added' }).waitFor();
  const card = page.locator('article.channel', { hasText: 'ops hook' });
  await card.waitFor();
  assert.match(await card.textContent(), /Backup failed; on open and resolve/);
  const ch = (await admin.get('/api/v1/notification-channels')).json.items[0];
  assert.equal(ch.token_set, true);
  assert.deepEqual(ch.alert_kinds, ['backup_failed']);

  // test button → receiver got it; the log shows the delivery
  await card.getByRole('button', { name: 'Send a test through ops hook' }).click();
  await page.locator('.toast', { hasText: 'Test sent through ops hook' }).waitFor();
  await waitFor(() => received.length === 1, { what: 'webhook test delivery' });
  assert.equal(received[0].headers.authorization, 'Bearer ' + TOKEN);
  assert.equal(JSON.parse(received[0].body).event, 'test');
  const logRow = card.locator('.deliveries tbody tr');
  await logRow.first().waitFor();
  assert.match(await logRow.first().textContent(), /test/);
  assert.equal(await logRow.first().getAttribute('data-outcome'), 'ok');
  await shot(page, 'channel-test-log');

  // edit: the secret is never shown; leaving it empty keeps it
  await card.getByRole('button', { name: 'Edit ops hook' }).click();
  const edit = page.getByRole('form', { name: 'Edit channel ops hook' });
  const tokenField = edit.getByLabel('Bearer token (optional)');
  assert.equal(await tokenField.inputValue(), '');
  assert.match(await tokenField.getAttribute('placeholder'), /set/);
  assert.ok(!(await page.content()).includes(TOKEN), 'the token reached the page');
  await edit.getByLabel('Also notify when an alert resolves').uncheck();
  await edit.getByRole('button', { name: 'Save channel' }).click();
  await page.locator('.toast', { hasText: 'Channel saved' }).waitFor();
  const after1 = (await admin.get('/api/v1/notification-channels')).json.items[0];
  assert.equal(after1.on_resolve, false);
  assert.equal(after1.token_set, true);

  // delete: Escape changes nothing, confirming deletes
  const cardNow = page.locator('article.channel', { hasText: 'ops hook' });
  await cardNow.getByRole('button', { name: 'Delete ops hook' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });
  assert.equal((await admin.get('/api/v1/notification-channels')).json.items.length, 1);
  await cardNow.getByRole('button', { name: 'Delete ops hook' }).click();
  await dlg.getByRole('button', { name: 'Delete channel' }).click();
  await page.getByText('No channels yet').waitFor();
  assert.equal((await admin.get('/api/v1/notification-channels')).json.items.length, 0);
  await done(page);
});

test('at 360 px nothing on the alerts and channels pages is cut off', async () => {
  await host.backup('failed');
  const r = await admin.post('/api/v1/notification-channels', { name: 'a rather long channel name for phones', kind: 'smtp', host: 'smtp.example.org', port: 587, security: 'starttls', from: 'restic-manager@example.org', to: ['operations-team@example.org', 'oncall@example.org'] });
  assert.equal(r.status, 201, r.text);
  const page = await newPage(browser, server, { width: 360, height: 740 });
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto('/#/alerts');
  await page.locator('table.alerts tbody tr').first().waitFor();
  assert.deepEqual(await clippedControls(page), [], 'alerts page');
  await shot(page, 'alerts-360');
  await page.goto('/#/notifications');
  const card = page.locator('article.channel', { hasText: 'a rather long channel name' });
  await card.waitFor();
  await card.getByRole('button', { name: 'Edit a rather long channel name for phones' }).click();
  await page.getByRole('form', { name: 'Edit channel a rather long channel name for phones' }).waitFor();
  assert.deepEqual(await clippedControls(page), [], 'channels page with the form open');
  await shot(page, 'channels-360');
  await done(page);
  await host.backup('succeeded');
});

test('a viewer sees alerts but not the channels page', async () => {
  const r = await admin.post('/api/v1/users', { username: 'val', password: 'val password long 1', role: 'viewer' });
  assert.equal(r.status, 201, r.text);
  const page = await newPage(browser, server);
  await uiLogin(page, 'val', 'val password long 1');
  assert.equal(await page.getByRole('link', { name: 'Notifications' }).count(), 0);
  await page.getByRole('link', { name: 'Alerts' }).click();
  await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
  await page.goto('/#/notifications');
  await page.getByText('This page needs the admin role').waitFor();
  await done(page);
});

test('API: channel writes need the CSRF header with a cookie session', async () => {
  const c = new Client(server);
  await c.login(ADMIN.username, ADMIN.password);
  c.csrf = null;
  const r = await c.req('POST', '/api/v1/notification-channels', { name: 'x', kind: 'webhook', url: 'http://a.example' });
  assert.equal(r.status, 403);
});
