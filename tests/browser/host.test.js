// host.test.js — the host page's Repository and Jobs tabs, restoring onto
// another host, and a sweep of every page at 360 px, in dark mode and from
// the keyboard.  Real server, two real agents sharing one restic repository.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Server, Agent, ADMIN, AGENT_BIN, RESTIC, launchBrowser, newPage, done, shot, uiLogin, bootstrapAdmin, restic, waitFor, unlabelledControls, clippedControls } from './harness.js';

const REPO_PASSWORD = 'repo password for host tests';
const FINAL = ['succeeded', 'warning', 'failed', 'cancelled'];
let server, browser, admin, work, repo, data;
const agents = [];
const hosts = {};

async function enrol(name) {
  const tok = await admin.post('/api/v1/enrollment-tokens', { hostname: name, repository: { url: repo, password: REPO_PASSWORD }, paths: [data] });
  assert.equal(tok.status, 201, tok.text);
  const agent = new Agent(server);
  agents.push(agent);
  await agent.enroll(tok.json.token);
  agent.start();
  const host = await waitFor(async () => {
    const r = await admin.get('/api/v1/hosts');
    return r.json.items.find((x) => x.name === name && x.status === 'online' && x.polling);
  }, { timeout: 30000, what: `host ${name} online` });
  return host;
}

async function finished(jobId) {
  return waitFor(async () => {
    const r = await admin.get(`/api/v1/jobs/${jobId}`);
    return FINAL.includes(r.json.status) ? r.json : null;
  }, { timeout: 90000, what: `job ${jobId}` });
}

async function runJob(hostId, body) {
  const r = await admin.post(`/api/v1/hosts/${hostId}/jobs`, body);
  assert.equal(r.status, 201, r.text);
  return finished(r.json.id);
}

/** The job id of the job page the browser is on. */
const jobIdOf = (page) => new URL(page.url()).hash.split('/').pop();

before(async () => {
  server = await new Server().start();
  admin = await bootstrapAdmin(server);
  browser = await launchBrowser();
  work = fs.mkdtempSync(path.join(server.tmp, 'work-'));
  repo = path.join(work, 'repo');
  data = path.join(work, 'data');
  fs.mkdirSync(path.join(data, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(data, 'etc', 'a.conf'), 'alpha config\n');
  fs.writeFileSync(path.join(data, 'etc', 'b.conf'), crypto.randomBytes(4096));
  fs.writeFileSync(path.join(data, 'readme.txt'), 'read me\n');
  await restic(['init', '--repo', repo], { RESTIC_PASSWORD: REPO_PASSWORD });
  if (!fs.existsSync(AGENT_BIN)) return;
  // restic names the machine in its locks; a host with that name sees a
  // lock left by a killed restic as its own (held_by_this_host).
  const machine = os.hostname();
  hosts.alpha = await enrol(/^[A-Za-z0-9._-]{1,253}$/.test(machine) ? machine : 'alpha');
  hosts.beta = await enrol('beta-02');
  for (let i = 0; i < 2; i++) {
    if (i) fs.writeFileSync(path.join(data, 'readme.txt'), 'read me again\n');
    const j = await runJob(hosts.alpha.id, { kind: 'backup', group: 'default' });
    assert.equal(j.status, 'succeeded', JSON.stringify(j));
  }
});

after(async () => {
  for (const a of agents) { await a.stop(); a.cleanup(); }
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); }
});

test('repository tab: health, editable maintenance cadences, a stale lock with its holder removed by unlock', async (t) => {
  if (!hosts.alpha) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const id = hosts.alpha.id;
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${id}/repo`);
  const health = page.locator('.repo-health .badge');
  await health.getByText('never checked').waitFor();
  await page.getByText('No locks', { exact: true }).waitFor();

  // Cadences: edited, validated, saved and shown again after a reload.
  const prune = page.getByLabel('Prune unreferenced data: every (hours)');
  assert.equal(await prune.inputValue(), '168');
  // A job of this host finishing refreshes the tab live, but keeps edits
  // that are not saved yet.
  await prune.fill('99');
  const locksHeading = await page.getByRole('heading', { name: 'Locks' }).elementHandle();
  const sj = await runJob(id, { kind: 'snapshots' });
  assert.equal(sj.status, 'succeeded');
  await waitFor(() => locksHeading.evaluate((el) => !el.isConnected), { what: 'the tab to refresh' });
  await page.getByRole('heading', { name: 'Locks' }).waitFor();
  assert.equal(await prune.inputValue(), '99');
  await prune.fill('0');
  await page.getByRole('button', { name: 'Save maintenance settings' }).click();
  await page.getByText('whole number of hours from 1 to 8760').waitFor();
  await prune.fill('72');
  await page.getByLabel('Forget old snapshots: automatically').uncheck();
  await page.getByLabel('Read data subset (empty = metadata only)').fill('5%');
  const stats = page.getByLabel('Refresh repository size: every (hours)');
  assert.equal(await stats.inputValue(), '24');
  await stats.fill('12');
  await page.getByRole('button', { name: 'Save maintenance settings' }).click();
  await page.getByText('Maintenance settings saved').waitFor();
  const m = (await admin.get(`/api/v1/hosts/${id}/maintenance`)).json;
  assert.equal(m.prune.every_hours, 72);
  assert.equal(m.forget.enabled, false);
  assert.equal(m.check.read_data_subset, '5%');
  assert.equal(m.stats.every_hours, 12);
  assert.equal(m.stats.enabled, true);
  await page.reload();
  await page.getByLabel('Prune unreferenced data: every (hours)').waitFor();
  assert.equal(await page.getByLabel('Prune unreferenced data: every (hours)').inputValue(), '72');
  assert.equal(await page.getByLabel('Forget old snapshots: automatically').isChecked(), false);
  assert.deepEqual(await unlabelledControls(page), []);

  // An integrity check from the Run-now row turns the health green.
  await page.getByRole('button', { name: 'Check integrity' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: 'succeeded' }).waitFor({ timeout: 60000 });
  await page.goto(`/#/hosts/${id}/repo`);
  await health.getByText('healthy').waitFor();
  await page.locator('.kv dd', { hasText: 'passed' }).waitFor();
  // Statistics: the job shows restic's numbers; the tab then has the size.
  await page.getByRole('button', { name: 'Refresh statistics' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: 'succeeded' }).waitFor({ timeout: 60000 });
  const result = page.locator('section', { has: page.getByRole('heading', { name: 'Result' }) });
  await result.locator('dd', { hasText: /\d (B|KiB|MiB)$/ }).first().waitFor();
  await shot(page, 'job-stats');
  await page.goto(`/#/hosts/${id}/repo`);
  await waitFor(async () => /\d (B|KiB|MiB)$/.test(await page.locator('.tab-body .kv dt', { hasText: /^Size$/ }).locator('xpath=following-sibling::dd[1]').textContent()), { what: 'the repository size' });

  // A restic killed mid-backup leaves a stale lock; the next prune fails on it.
  const big = path.join(work, 'big.bin');
  fs.writeFileSync(big, crypto.randomBytes(6 * 1024 * 1024));
  const p = spawn(RESTIC, ['backup', '--limit-upload', '300', big], {
    env: { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: REPO_PASSWORD, RESTIC_CACHE_DIR: path.join(work, 'cache') }, stdio: 'ignore' });
  const lockdir = path.join(repo, 'locks');
  await waitFor(() => fs.readdirSync(lockdir).some((f) => !f.includes('-tmp-')), { timeout: 60000, what: "restic's lock" });
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Prune' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: 'failed' }).waitFor({ timeout: 60000 });
  await waitFor(async () => (await admin.get(`/api/v1/hosts/${id}/maintenance`)).json.locks.length, { timeout: 30000, what: 'the lock in the repository health' });
  await page.goto(`/#/hosts/${id}/repo`);
  const row = page.locator('table.locks tbody tr');
  await row.first().waitFor();
  assert.equal(await row.locator('td[data-label="PID"]').textContent(), String(p.pid));
  assert.match(await row.locator('td[data-label="Held by"]').textContent(), new RegExp(`@${os.hostname()}$`));
  assert.equal(await row.locator('td[data-label="Lock"]').textContent(), 'shared', "a backup's lock is shared");
  if (hosts.alpha.name === os.hostname()) {
    await row.getByText('stale — no job is running').waitFor();
    await health.getByText('stale lock').waitFor();
  }
  await shot(page, 'host-repo-locks');
  // Removing all locks needs the host name typed; cancelling does nothing.
  await page.getByRole('button', { name: 'Remove all locks…' }).click();
  assert.ok(await page.getByRole('dialog').getByRole('button', { name: 'Remove all locks' }).isDisabled());
  await page.keyboard.press('Escape');
  await page.getByRole('button', { name: 'Remove stale locks' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove stale locks' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: 'succeeded' }).waitFor({ timeout: 60000 });
  const unlock = (await admin.get(`/api/v1/jobs/${jobIdOf(page)}`)).json;
  assert.equal(unlock.kind, 'unlock');
  await page.goto(`/#/hosts/${id}/repo`);
  await page.getByText('No locks', { exact: true }).waitFor();
  await done(page);
});

test('jobs tab: duration and data-added charts in plain SVG', async (t) => {
  if (!hosts.alpha) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const id = hosts.alpha.id;
  const backups = (await admin.get(`/api/v1/jobs?host=${id}&kind=backup`)).json.items.filter((j) => FINAL.includes(j.status));
  assert.ok(backups.length >= 2);
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${id}/jobs`);
  const charts = page.locator('figure.chart');
  await charts.first().waitFor();
  assert.equal(await charts.count(), 2);
  const duration = charts.nth(0), added = charts.nth(1);
  assert.match(await duration.locator('figcaption').textContent(), /^Backup duration/);
  assert.match(await added.locator('figcaption').textContent(), /^Data added/);
  for (const c of [duration, added]) {
    assert.equal(await c.locator('svg.chart-svg rect.bar').count(), backups.length);
    assert.match(await c.locator('svg').getAttribute('aria-label'), new RegExp(`of the last ${backups.length} backups`));
  }
  // The first backup added the most data: its bar is the tallest, and its
  // tooltip names the amount.
  const heights = await added.locator('rect.bar').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))));
  assert.equal(Math.max(...heights), heights[0]);
  assert.match(await added.locator('rect.bar title').first().textContent(), /\d{4}-\d\d-\d\d \d\d:\d\d: [\d.]+ (B|KiB|MiB)/);
  // No chart library, nothing inline: every element is SVG with attributes.
  assert.equal(await page.locator('svg [style]').count(), 0);
  await shot(page, 'host-jobs-charts');
  await done(page);
});

test('restore wizard: two files onto another host that uses the same repository', async (t) => {
  if (!hosts.beta) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${hosts.alpha.id}/restore`);
  await page.getByRole('heading', { name: 'Choose a snapshot' }).waitFor();
  await page.getByRole('radio').first().check();
  await page.getByRole('button', { name: 'Next: choose files →' }).click();
  await page.getByRole('heading', { name: /Choose files from/ }).waitFor();
  let prefix = '';
  for (const part of data.split('/').filter(Boolean)) {
    prefix += '/' + part;
    await page.getByRole('button', { name: `Open ${prefix}`, exact: true }).click();
  }
  await page.getByRole('button', { name: `Open ${data}/etc`, exact: true }).click();
  await page.getByRole('checkbox', { name: `Select ${data}/etc/b.conf` }).check();
  await page.getByRole('checkbox', { name: `Select ${data}/readme.txt` }).check();
  await page.getByText('2 selected').waitFor();
  await page.getByRole('button', { name: 'Next: choose target →' }).click();
  // From the keyboard: the focus sits on the chosen target and arrow keys
  // move through all three (the step re-renders on each change).
  await waitFor(() => page.evaluate(() => document.activeElement && document.activeElement.matches('input[name=mode]:checked')), { what: 'focus on the chosen target' });
  await page.keyboard.press('ArrowDown');
  await page.getByLabel(/Type the host name/).waitFor();
  await page.keyboard.press('ArrowDown');
  assert.ok(await page.getByRole('radio', { name: /Another host/ }).isChecked());
  const dest = page.getByLabel('Destination host');
  await dest.locator('option', { hasText: 'beta-02' }).waitFor({ state: 'attached' });
  // Only hosts of the same repository are offered, never the source host.
  assert.equal(await dest.locator('option', { hasText: hosts.alpha.name }).count(), 0);
  await page.getByRole('button', { name: 'Next: review →' }).click();
  await page.getByText('Choose the destination host').waitFor();
  await dest.selectOption({ label: 'beta-02 (online)' });
  const target = path.join(work, 'on-beta');
  await page.getByLabel('Target directory on that host (optional)').fill(target);
  assert.deepEqual(await unlabelledControls(page), []);
  await shot(page, 'restore-target');
  await page.getByRole('button', { name: 'Next: review →' }).click();
  await page.getByRole('heading', { name: 'Review and start' }).waitFor();
  await page.getByText(`onto host beta-02 in ${target}`).waitFor();
  await shot(page, 'restore-confirm');
  await page.getByRole('button', { name: 'Start restore' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: /succeeded|warning/ }).waitFor({ timeout: 90000 });
  // The job ran on beta (its crumb names it) and wrote exactly the two files.
  await page.locator('.crumbs a', { hasText: 'beta-02' }).waitFor();
  const job = (await admin.get(`/api/v1/jobs/${jobIdOf(page)}`)).json;
  assert.equal(job.host_id, hosts.beta.id);
  assert.deepEqual(fs.readFileSync(path.join(target, data, 'etc', 'b.conf')), fs.readFileSync(path.join(data, 'etc', 'b.conf')));
  assert.equal(fs.readFileSync(path.join(target, data, 'readme.txt'), 'utf8'), 'read me again\n');
  assert.ok(!fs.existsSync(path.join(target, data, 'etc', 'a.conf')), 'only the chosen files were restored');
  // The summary names what was restored.
  const summary = page.locator('section', { has: page.getByRole('heading', { name: 'Summary' }) });
  await summary.locator('dd', { hasText: /^2$/ }).waitFor();
  await summary.getByText(target).waitFor();
  assert.equal(await page.locator('.progress-stats dd').first().textContent(), '2 of 2');
  await shot(page, 'job-restore');
  await done(page);
});

test('a finished job page reloads from its cached log and resumes after the last line', async (t) => {
  if (!hosts.alpha) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const j = (await admin.get(`/api/v1/jobs?host=${hosts.alpha.id}&kind=backup`)).json.items.find((x) => x.status === 'succeeded');
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const streams = [];
  page.on('request', (rq) => { if (rq.url().includes('/stream')) streams.push(new URL(rq.url()).searchParams.get('last_event_id')); });
  await page.goto(`/#/jobs/${j.id}`);
  await page.locator('.log .line').first().waitFor();
  const lines = () => page.locator('.log .line').evaluateAll((els) => els.map((e) => Number(e.dataset.line)));
  const all = Array.from({ length: j.log_lines }, (_, i) => i + 1);
  await waitFor(async () => (await lines()).length === j.log_lines, { what: 'the whole log' });
  assert.deepEqual(await lines(), all);
  assert.equal(streams[0], null, 'first visit replays from the start');
  await page.reload();
  await page.locator('.log .line').first().waitFor();
  await waitFor(() => streams.length >= 2, { what: 'the resumed stream' });
  assert.equal(streams[1], String(j.log_lines), 'resumed after the last line seen');
  await page.locator('.page-head .badge', { hasText: 'succeeded' }).waitFor();
  assert.deepEqual(await lines(), all, 'no line lost or shown twice');
  // A finished backup shows a full bar and restic's final counts.
  assert.equal(await page.locator('.progress').getAttribute('aria-valuenow'), '100');
  const files = await page.locator('.progress-stats dd').first().textContent();
  assert.equal(files, `${j.summary.total_files_processed} of ${j.summary.total_files_processed}`);
  await done(page);
});

test('every page: no horizontal scroll at 360 px, labelled controls, dark theme, visible focus, cached versioned assets', async (t) => {
  if (!hosts.alpha) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const id = hosts.alpha.id;
  const job = (await admin.get(`/api/v1/jobs?host=${id}&kind=backup`)).json.items[0];
  const page = await newPage(browser, server, { width: 360, height: 740 });
  const assets = new Map();
  page.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/assets/')) assets.set(r.url(), r.headers()); });
  await page.goto('/#/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  const check = async (what) => {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${what}: ${overflow}px wider than the 360 px viewport`);
    assert.deepEqual(await unlabelledControls(page), [], `${what}: every control has a label`);
    assert.deepEqual(await clippedControls(page), [], `${what}: no control is cut off`);
  };
  await check('login');
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const pages = [
    ['/#/', 'Dashboard'], ['/#/hosts/new', 'Add a host'], ['/#/jobs', 'Jobs'], [`/#/jobs/${job.id}`, 'Log'],
    ['/#/audit', 'Audit trail'], ['/#/users', 'Users'], ['/#/account', 'Your account'],
    ['/#/alerts', 'Alerts'], ['/#/notifications', 'Notification channels'],
    ...['snapshots', 'sources', 'schedules', 'repo', 'jobs', 'settings'].map((tab) => [`/#/hosts/${id}/${tab}`, null]),
    [`/#/hosts/${id}/restore`, 'Choose a snapshot'],
  ];
  for (const [url, heading] of pages) {
    await page.goto(url);
    if (heading) await page.getByRole('heading', { name: heading, exact: true }).first().waitFor();
    else await page.locator('.tab-body h2').first().waitFor();
    await page.locator('.loading').first().waitFor({ state: 'detached' }).catch(() => {});
    await check(url);
    if (url.endsWith('/repo') || url === '/#/users' || url === '/#/audit') await shot(page, `${url.split('/').pop()}-360`);
    if (url === '/#/') await shot(page, 'dashboard-problems-360');
  }
  // The wizard's later steps too.
  await page.getByRole('radio').first().check();
  await page.getByRole('button', { name: 'Next: choose files →' }).click();
  await page.locator('.tree button.twisty').first().waitFor();
  await check('restore: files');
  await page.getByRole('button', { name: 'Next: choose target →' }).click();
  await page.getByRole('radio', { name: /In place/ }).check();
  await check('restore: target');
  await shot(page, 'restore-target-360');
  await page.goto(`/#/jobs/${job.id}`);
  await page.getByRole('heading', { name: 'Log' }).waitFor();
  await shot(page, 'job-360');

  // Light and dark follow the system colour scheme.
  const bg = () => page.evaluate(() => {
    const m = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
    return (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255;
  });
  await page.emulateMedia({ colorScheme: 'light' });
  assert.ok(await bg() > 0.8, 'light background in the light scheme');
  await page.emulateMedia({ colorScheme: 'dark' });
  assert.ok(await bg() < 0.2, 'dark background in the dark scheme');
  await shot(page, 'job-360-dark');

  // Keyboard focus is visible: a 2 px+ outline on every focused control.
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(`/#/hosts/${id}/jobs`);
  await page.locator('figure.chart').first().waitFor();
  await shot(page, 'host-jobs-dark');
  await page.goto(`/#/hosts/${id}/repo`);
  await page.getByRole('button', { name: 'Save maintenance settings' }).waitFor();
  await shot(page, 'host-repo-dark');
  const seen = new Set();
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const cs = getComputedStyle(el);
      return { tag: el.tagName, text: (el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 40), style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
    });
    if (!f) continue;
    seen.add(f.tag);
    assert.ok(f.style !== 'none' && f.width >= 2, `focus on ${f.tag} “${f.text}” is not visible (${f.style} ${f.width}px)`);
  }
  assert.ok(seen.has('A') && seen.has('INPUT'), `focus reached links and inputs (${[...seen]})`);

  // Versioned assets are cached for a year and revalidate by ETag.
  assert.ok(assets.size >= 5, 'assets loaded');
  for (const [url, hd] of assets) {
    assert.match(url, /\/assets\/[0-9a-f]{8,}\//, `${url} is versioned`);
    assert.match(hd['cache-control'] || '', /max-age=31536000.*immutable/, `${url} long cache`);
    assert.match(hd.etag || '', /^"[0-9a-f]+"$/, `${url} ETag`);
  }
  const [u, hd] = [...assets][0];
  const again = await fetch(u, { headers: { 'If-None-Match': hd.etag } });
  assert.equal(again.status, 304);
  await done(page);
});

test('a viewer gets every host tab, the job page and the wizard read-only', async (t) => {
  if (!hosts.alpha) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const r = await admin.post('/api/v1/users', { username: 'vic', password: 'viewer password 9', role: 'viewer' });
  assert.equal(r.status, 201, r.text);
  const id = hosts.alpha.id;
  const job = (await admin.get(`/api/v1/jobs?host=${id}&kind=backup`)).json.items[0];
  const page = await newPage(browser, server);
  await uiLogin(page, 'vic', 'viewer password 9');
  // Buttons a viewer may still use: table sorting, folder toggles.
  const writeButtons = () => page.locator('main button:not([disabled]):not(.sort):not(.twisty)').allTextContents();
  for (const tab of ['snapshots', 'sources', 'schedules', 'repo', 'jobs']) {
    await page.goto(`/#/hosts/${id}/${tab}`);
    await page.locator('.tab-body h2').first().waitFor();
    await page.locator('.tab-body .loading').waitFor({ state: 'detached' });
    assert.deepEqual(await writeButtons(), [], `${tab}: no write actions`);
    assert.equal(await page.getByRole('link', { name: /Restore/ }).count(), 0, `${tab}: no restore links`);
  }
  // Settings are shown but cannot be changed.
  await page.goto(`/#/hosts/${id}/repo`);
  await page.getByText('You need the operator role to change the maintenance schedule.').waitFor();
  assert.ok(await page.getByLabel('Prune unreferenced data: every (hours)').isDisabled());
  await page.goto(`/#/jobs/${job.id}`);
  await page.getByRole('heading', { name: 'Log' }).waitFor();
  assert.deepEqual(await writeButtons(), [], 'job page: no write actions');
  await page.getByRole('link', { name: 'Download text' }).waitFor();
  await page.goto(`/#/hosts/${id}/restore`);
  await page.getByText('This page needs the operator role').waitFor();
  await shot(page, 'host-repo-viewer');
  await done(page);
});

test('empty states and clear errors: no snapshots, no schedules, unknown host, unknown job, unknown page', async (t) => {
  if (!hosts.beta) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${hosts.beta.id}/snapshots`);
  await page.getByText('No snapshots yet').waitFor();
  await page.locator('.empty').getByRole('button', { name: 'Back up now' }).waitFor();
  await page.goto(`/#/hosts/${hosts.beta.id}/schedules`);
  await page.getByText('No schedules', { exact: true }).waitFor();
  await page.goto(`/#/hosts/${hosts.beta.id}/restore`);
  await page.getByText('This host has no snapshots to restore from yet.').waitFor();
  await page.goto('/#/hosts/987654');
  await page.getByRole('alert').getByText(/Could not load this host/).waitFor();
  await page.getByRole('link', { name: '← Dashboard' }).waitFor();
  await page.goto(`/#/jobs/${'0'.repeat(32)}`);
  await page.getByRole('alert').getByText(/Could not load job/).waitFor();
  await page.goto('/#/no/such/page');
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  await shot(page, 'not-found');
  // The failed loads above are the only console errors (the browser logs a 404).
  await done(page, [/status of 404/]);
});

test('sources and schedules: edit a group (excludes, retention, retries); add, disable and edit a schedule', async (t) => {
  if (!hosts.beta) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const id = hosts.beta.id;
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${id}/sources`);
  await page.getByRole('button', { name: 'Edit group default' }).click();
  const form = page.getByRole('form', { name: 'Edit source group “default”' });
  assert.equal(await form.getByLabel('Paths (one per line)').inputValue(), data);
  await form.getByLabel('Excludes (one pattern per line)').fill('*.tmp\n/var/cache');
  await form.getByLabel('Retention: keep last').fill('3');
  await form.getByLabel('Retries', { exact: true }).fill('2');
  assert.deepEqual(await unlabelledControls(page), []);
  await form.getByRole('button', { name: 'Save group' }).click();
  await page.getByText('Source group saved').waitFor();
  const card = page.locator('article', { has: page.getByRole('heading', { name: 'default', exact: true }) });
  await card.getByText('/var/cache').waitFor();
  await card.getByText(/keep last 3/).waitFor();
  await card.getByText('2, 300 s apart').waitFor();
  const g = (await admin.get(`/api/v1/hosts/${id}/sources/default`)).json;
  assert.deepEqual(g.excludes, ['*.tmp', '/var/cache']);
  assert.equal(g.retention.keep_last, 3);
  assert.equal(g.retry.count, 2);

  await page.getByRole('link', { name: 'Schedules' }).click();
  await page.getByLabel(/Cron expression/).fill('0 4 1 1 *');
  await page.getByRole('button', { name: 'Add schedule' }).click();
  const row = page.locator('tbody tr', { has: page.locator('code', { hasText: '0 4 1 1 *' }) });
  await row.getByText('enabled').waitFor();
  await row.getByRole('button', { name: 'Disable schedule 0 4 1 1 *' }).click();
  await row.getByText('disabled').waitFor();
  assert.equal(await row.locator('td[data-label="Next runs"]').textContent(), '—');
  await row.getByRole('button', { name: 'Edit schedule 0 4 1 1 *' }).click();
  await page.getByRole('heading', { name: 'Edit schedule “0 4 1 1 *”' }).waitFor();
  await page.getByLabel(/Cron expression/).fill('15 4 1 1 *');
  await page.getByLabel('Random delay (seconds, 0–86400)').fill('60');
  await page.getByLabel('Enabled').check();
  await page.getByRole('button', { name: 'Save schedule' }).click();
  await page.getByText('Schedule saved').waitFor();
  const edited = page.locator('tbody tr', { has: page.locator('code', { hasText: '15 4 1 1 *' }) });
  await edited.getByText('up to 60 s random delay').waitFor();
  await edited.getByText('enabled').waitFor();
  assert.equal(await page.locator('code', { hasText: '0 4 1 1 *' }).count(), 0, 'edited in place, not added');
  const s = (await admin.get(`/api/v1/hosts/${id}/schedules`)).json.items;
  assert.equal(s.length, 1);
  assert.equal(s[0].cron, '15 4 1 1 *');
  assert.equal(s[0].random_delay_seconds, 60);
  assert.equal(s[0].enabled, true);
  await shot(page, 'host-schedules-edit');
  await done(page);
});

test('hostile file names are text in the tree browser and the job log; the log follows and stops following', async (t) => {
  if (!hosts.alpha) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const id = hosts.alpha.id;
  const evil = ['<img src=x onerror="window.__xss=1">.txt', '<script>window.__xss=2<script>.txt'];
  const many = path.join(data, 'many');
  fs.mkdirSync(many, { recursive: true });
  for (const n of evil) fs.writeFileSync(path.join(data, n), 'x\n');
  for (let i = 0; i < 60; i++) fs.writeFileSync(path.join(many, `f${String(i).padStart(3, '0')}.txt`), `${i}\n`);
  const b = await runJob(id, { kind: 'backup', group: 'default' });
  assert.equal(b.status, 'succeeded', JSON.stringify(b));
  const snaps = await waitFor(async () => {
    const items = (await admin.get(`/api/v1/hosts/${id}/snapshots`)).json.items;
    const sid = String(b.summary.snapshot_id);
    return items.some((s) => s.id.startsWith(sid) || sid.startsWith(s.short_id)) ? items : null;
  }, { what: 'the new snapshot listed' });
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  // Vitals in the header: versions and last contact.
  await page.goto(`/#/hosts/${id}/snapshots`);
  const vital = (k) => page.locator('.vitals dt', { hasText: k }).locator('xpath=following-sibling::dd[1]').textContent();
  assert.match(await vital('restic'), /^\d+\.\d+/);
  assert.match(await vital('Last seen'), /just now|min ago/);
  assert.match(await vital('OS / arch'), /^linux\//);
  // The tree browser lists the hostile names as plain text.
  await page.goto(`/#/hosts/${id}/restore?snapshot=${encodeURIComponent(b.summary.snapshot_id)}`);
  let prefix = '';
  for (const part of data.split('/').filter(Boolean)) {
    prefix += '/' + part;
    await page.getByRole('button', { name: `Open ${prefix}`, exact: true }).click();
  }
  for (const n of evil) assert.equal(await page.locator('.tree .file', { hasText: n }).textContent(), n);
  // A diff against the previous snapshot logs every added path as text.
  await page.goto(`/#/hosts/${id}/snapshots`);
  const boxes = page.getByRole('checkbox', { name: /Select snapshot .* for comparison/ });
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await page.getByRole('button', { name: 'Compare 2 selected' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: 'succeeded' }).waitFor({ timeout: 60000 });
  const log = page.locator('.log');
  for (const n of evil) await log.locator('.line', { hasText: n }).first().waitFor();
  // Older snapshot first: the new files are additions.
  assert.match(await log.locator('.line', { hasText: evil[0] }).first().textContent(), /\+ \//);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator('main img, main script').count(), 0);
  // Follow keeps the end of the log in view; scrolling up turns it off,
  // ticking it again jumps back to the end.
  await waitFor(() => log.evaluate((el) => el.scrollHeight > el.clientHeight * 2), { what: 'a long log' });
  const atEnd = () => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 4);
  const follow = page.getByLabel('Follow');
  assert.ok(await follow.isChecked());
  await waitFor(atEnd, { what: 'the log scrolled to its end' });
  await log.evaluate((el) => { el.scrollTop = 0; });
  await waitFor(async () => !(await follow.isChecked()), { what: 'Follow turned off by scrolling up' });
  await follow.check();
  await waitFor(atEnd, { what: 'back at the end' });
  await shot(page, 'job-diff-log');
  assert.ok(snaps.length >= 3);
  await done(page);
});

test('schedules show their description and next runs', async (t) => {
  if (!hosts.beta) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const r = await admin.post(`/api/v1/hosts/${hosts.beta.id}/schedules`, { cron: '30 2 * * 1-5', groups: ['default'], enabled: false });
  assert.equal(r.status, 201, r.text);
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${hosts.beta.id}/schedules`);
  const row = page.locator('tbody tr', { has: page.locator('code', { hasText: '15 4 1 1 *' }) });
  await row.waitFor();
  // The enabled one (from the edit test) lists its next three runs; the
  // disabled one none.
  assert.equal(await row.locator('td[data-label="Next runs"] div').count(), 3);
  for (const x of await row.locator('td[data-label="Next runs"] div').allTextContents()) assert.match(x, /^\d{4}-01-01 \d\d:\d\d$/);
  const off = page.locator('tbody tr', { has: page.locator('code', { hasText: '30 2 * * 1-5' }) });
  assert.match(await off.locator('td[data-label="When"]').textContent(), /02:30/);
  assert.equal(await off.locator('td[data-label="Next runs"]').textContent(), '—');
  await done(page);
});

test('every destructive button asks first: Escape leaves the server untouched', async (t) => {
  if (!hosts.beta) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  const id = hosts.beta.id;
  let r = await admin.post(`/api/v1/hosts/${id}/sources`, { name: 'extra', paths: [data] });
  assert.equal(r.status, 201, r.text);
  r = await admin.post('/api/v1/tokens', { name: 'to-keep' });
  assert.equal(r.status, 201, r.text);
  r = await admin.post('/api/v1/users', { username: 'dora', password: 'dora password 1', role: 'operator' });
  assert.equal(r.status, 201, r.text);
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const head = async () => (await admin.get('/api/v1/audit?limit=1')).json.items[0].seq;
  const before = await head();
  const pages = [`/#/hosts/${id}/sources`, `/#/hosts/${id}/schedules`, `/#/hosts/${id}/repo`, `/#/hosts/${id}/settings`, '/#/users', '/#/account'];
  let clicked = 0;
  for (const url of pages) {
    await page.goto(url);
    await page.locator('main h1, main h2').first().waitFor();
    await page.locator('main .loading').first().waitFor({ state: 'detached' }).catch(() => {});
    await page.locator('main button.danger').first().waitFor({ timeout: 5000 }).catch(() => {});
    const n = await page.locator('main button.danger:not([disabled])').count();
    for (let i = 0; i < n; i++) {
      const b = page.locator('main button.danger:not([disabled])').nth(i);
      const label = (await b.getAttribute('aria-label')) || (await b.textContent());
      await b.click();
      await page.locator('dialog[open]').waitFor({ timeout: 5000 }).catch(() => { throw new Error(`${url}: “${label}” acted without asking`); });
      await page.keyboard.press('Escape');
      await page.locator('dialog[open]').waitFor({ state: 'detached' });
      clicked++;
    }
  }
  assert.ok(clicked >= 5, `${clicked} destructive buttons tried`);
  assert.equal(await head(), before, 'no state change was recorded');
  assert.equal((await admin.get(`/api/v1/hosts/${id}/sources/extra`)).status, 200);
  await done(page);
});

test('jobs page: filters and pages of 50 (older/newer)', async (t) => {
  if (!hosts.alpha) { t.skip(`no agent binary at ${AGENT_BIN}`); return; }
  // A host whose agent is stopped keeps its jobs queued.
  const gamma = await enrol('gamma-03');
  const agent = agents[agents.length - 1];
  await agent.stop();
  for (let i = 0; i < 55; i++) {
    const r = await admin.post(`/api/v1/hosts/${gamma.id}/jobs`, { kind: 'snapshots' });
    assert.equal(r.status, 201, r.text);
  }
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto('/#/jobs?status=queued');
  const rows = page.locator('main table tbody tr');
  await page.getByText('Page 1').waitFor();
  await waitFor(async () => (await rows.count()) === 50, { what: '50 rows' });
  assert.ok(await page.getByRole('button', { name: '← Newer' }).isDisabled());
  const firstPage = await rows.locator('td[data-label="Job"]').allTextContents();
  await page.getByRole('button', { name: 'Older →' }).click();
  await page.getByText('Page 2').waitFor();
  await waitFor(async () => (await rows.count()) === 5, { what: 'the last 5 rows' });
  const second = await rows.locator('td[data-label="Job"]').allTextContents();
  assert.equal(second.filter((x) => firstPage.includes(x)).length, 0, 'no job on both pages');
  assert.ok(await page.getByRole('button', { name: 'Older →' }).isDisabled());
  await page.getByRole('button', { name: '← Newer' }).click();
  await page.getByText('Page 1').waitFor();
  // Another filter starts again at page 1.
  await page.getByLabel('Kind').selectOption('restore');
  await waitFor(async () => (await rows.count()) === 0, { what: 'no queued restores' });
  await page.getByText('No jobs match').waitFor();
  await shot(page, 'jobs-empty-filter');
  await done(page);
});
