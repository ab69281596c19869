// fleet.test.js — the UI against the real server and a real enrolled agent
// running real restic: add a host and see it appear, run a backup and watch
// it live, browse a snapshot and restore a file, viewer restrictions, and
// escaping of hostile host names.  Scenarios whose backend is not in this
// build yet are skipped with the reason (they enable themselves once the
// endpoints exist).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Server, Agent, ADMIN, AGENT_BIN, launchBrowser, newPage, done, shot, uiLogin, bootstrapAdmin, restic, routeExists, waitFor, slowRestic, unlabelledControls } from './harness.js';

const REPO_PASSWORD = 'repo password for tests';
let server, browser, admin, work, missing = {};
const agents = [];
const state = {}; // host created by the first scenario, used by later ones

before(async () => {
  server = await new Server().start();
  admin = await bootstrapAdmin(server);
  browser = await launchBrowser();
  work = fs.mkdtempSync(path.join(server.tmp, 'work-'));
  missing.hosts = !(await routeExists(server, 'GET', '/api/v1/hosts')) && 'GET /api/v1/hosts is not in this server yet';
  missing.enroll = !(await routeExists(server, 'POST', '/api/v1/enrollment-tokens')) && 'POST /api/v1/enrollment-tokens is not in this server yet';
  missing.agent = !fs.existsSync(AGENT_BIN) && `no agent binary at ${AGENT_BIN}`;
  missing.tree = !(await routeExists(server, 'GET', '/api/v1/hosts/1/snapshots/abcdef12/tree?path=/')) && 'GET /api/v1/hosts/{id}/snapshots/{sid}/tree is not in this server yet';
});

after(async () => {
  for (const a of agents) { await a.stop(); a.cleanup(); }
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); } // stop() throws on a crash or sanitizer report
});

function skipUnless(t, ...keys) {
  for (const k of keys) if (missing[k]) { t.skip(missing[k]); return true; }
  return false;
}

async function makeRepo(name) {
  const repo = path.join(work, name + '-repo');
  await restic(['init', '--repo', repo], { RESTIC_PASSWORD: REPO_PASSWORD });
  return repo;
}

test('add a host: install commands, then the enrolled host appears live', async (t) => {
  if (skipUnless(t, 'hosts', 'enroll', 'agent')) return;
  const repo = await makeRepo('web');
  const data = path.join(work, 'data');
  fs.mkdirSync(path.join(data, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(data, 'docs', 'hello.txt'), 'hello from the browser test\n');
  fs.writeFileSync(path.join(data, 'notes.md'), '# notes\n');
  state.repo = repo;
  state.data = data;

  const dash = await newPage(browser, server);
  await uiLogin(dash, ADMIN.username, ADMIN.password);
  await dash.locator('.live', { hasText: 'live' }).waitFor();

  const page = await newPage(browser, server, { permissions: ['clipboard-read', 'clipboard-write'] });
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto('/#/hosts/new');
  await page.getByLabel('Host name').fill('web-01');
  await page.getByLabel('Repository URL').fill(repo);
  await page.getByLabel('Repository password (optional)').fill(REPO_PASSWORD);
  await page.getByLabel('Paths to back up (one per line)').fill(data);
  await page.getByRole('button', { name: 'Create install command' }).click();
  await page.getByRole('heading', { name: 'Install on the host' }).waitFor();
  const token = (await page.locator('code.secret').textContent()).trim();
  assert.ok(token.length >= 32, 'token shown');
  const linux = await page.locator('.cmd pre').first().textContent();
  assert.ok(linux.includes(token) || linux.includes('RM_ENROL_TOKEN'), 'linux command carries the token');
  await page.getByText(/Token expires in \d+:\d\d/).waitFor();
  // The countdown starts at (just under) an hour and ticks down.
  const cd = page.locator('.countdown');
  const t0 = await cd.textContent();
  const [, mm, ss] = t0.match(/in (\d+):(\d\d)/);
  assert.ok(Number(mm) * 60 + Number(ss) > 3500 && Number(mm) * 60 + Number(ss) <= 3600, `countdown ${t0}`);
  await waitFor(async () => (await cd.textContent()) !== t0, { what: 'the countdown to tick' });
  // Copy buttons put exactly the shown commands on the clipboard.
  const windows = await page.locator('.cmd pre').nth(1).textContent();
  assert.match(windows, /install\.ps1/);
  for (const [label, text] of [['Linux (run as root)', linux], ['Windows (PowerShell as Administrator)', windows]]) {
    await page.getByRole('button', { name: `Copy the ${label} command` }).click();
    await waitFor(async () => (await page.evaluate(() => navigator.clipboard.readText())) === text, { what: `${label} command on the clipboard` });
  }
  await page.getByText('Copied to clipboard').first().waitFor();
  assert.deepEqual(await unlabelledControls(page), []);
  await shot(page, 'add-host');

  // Uploads throttled so the backup scenario can watch a job run.
  const agent = new Agent(server, { restic: slowRestic(work, 1024) });
  agents.push(agent);
  await agent.enroll(token);
  agent.start();
  await page.getByText('has joined').waitFor({ timeout: 30000 });
  await page.getByRole('link', { name: 'web-01' }).waitFor();
  // The dashboard opened before enrolment shows the host without a reload.
  await dash.locator('a.host-link', { hasText: 'web-01' }).waitFor({ timeout: 30000 });
  await dash.locator('tr', { hasText: 'web-01' }).getByText('online').waitFor({ timeout: 30000 });
  await shot(page, 'add-host-enrolled');
  await shot(dash, 'dashboard');
  const hosts = await admin.get('/api/v1/hosts');
  state.host = hosts.json.items.find((x) => x.name === 'web-01');
  assert.ok(state.host, 'host listed by the API');
  await done(page);
  await done(dash);
});

test('run a backup and watch progress and log update before it finishes; reload resumes', async (t) => {
  if (skipUnless(t, 'hosts', 'enroll', 'agent')) return;
  if (!state.host) { t.skip('needs the host from the add-host scenario'); return; }
  // Enough incompressible data (uploads are throttled) to watch it run for a while.
  const big = path.join(state.data, 'big');
  fs.mkdirSync(big, { recursive: true });
  for (let i = 0; i < 16; i++) fs.writeFileSync(path.join(big, `blob-${i}.bin`), crypto.randomBytes(1024 * 1024));

  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${state.host.id}`);
  await page.getByRole('heading', { name: 'web-01' }).waitFor();
  await page.locator('.head-actions').getByRole('button', { name: 'Back up now' }).click();
  await page.waitForURL(/#\/jobs\//);
  const jobUrl = page.url();
  // Record every progress value and log-line count the page shows while the
  // job is still running (a MutationObserver in the page, no polling races).
  const running = () => page.evaluate(() => !/succeeded|failed|warning|cancelled/.test(document.querySelector('.page-head .badge')?.textContent || ''));
  await page.evaluate(() => {
    window.__seen = [];
    const note = () => {
      const st = document.querySelector('.page-head .badge')?.textContent || '';
      const pct = document.querySelector('.progress')?.getAttribute('aria-valuenow');
      window.__seen.push({ running: !/succeeded|failed|warning|cancelled/.test(st), pct: pct === null ? null : Number(pct), lines: document.querySelectorAll('.log .line').length });
    };
    new MutationObserver(note).observe(document.querySelector('main'), { subtree: true, childList: true, attributes: true, characterData: true });
    note();
  });
  // (restic reads 12 MiB at once and then waits for the throttled upload, so
  // the bar may jump to 100 % early; what matters is that it moves live.)
  await page.waitForFunction(() => window.__seen.some((x) => x.running && x.pct > 0) &&
    window.__seen.some((x) => x.running && x.lines > 0), null, { timeout: 90000 });
  assert.ok(await running(), 'the job is still running after progress and log showed up');
  const files = await page.locator('.progress-stats dd').first().textContent();
  assert.match(files, /\d+ of \d+/, 'file counts shown while running');
  await shot(page, 'job-running');
  // A reload mid-job resumes: the lines seen so far come back at once and the
  // stream continues after the last one (Last-Event-ID), without duplicates.
  const linesBefore = await page.locator('.log .line').count();
  const streams = [];
  page.on('request', (rq) => { if (rq.url().includes('/stream')) streams.push(rq.url()); });
  await page.reload();
  await page.locator('.log .line').first().waitFor();
  assert.ok(await page.locator('.log .line').count() >= linesBefore, 'the log is complete after the reload');
  assert.equal(page.url(), jobUrl);
  await waitFor(() => streams.length, { what: 'the job stream after the reload' });
  const resumedAt = Number(new URL(streams[0]).searchParams.get('last_event_id'));
  assert.ok(resumedAt >= linesBefore && resumedAt > 0, `stream resumed after line ${resumedAt} (${linesBefore} shown before)`);
  await page.locator('.page-head .badge', { hasText: /succeeded|warning/ }).waitFor({ timeout: 120000 });
  await page.waitForFunction(() => document.querySelector('.progress')?.getAttribute('aria-valuenow') === '100');
  await page.getByRole('heading', { name: 'Summary' }).waitFor();
  // Every line exactly once, in order, as many as the server stored.
  const shown = await page.locator('.log .line').evaluateAll((els) => els.map((e) => Number(e.dataset.line)));
  const stored = (await admin.get(`/api/v1/jobs/${jobUrl.split('/').pop()}`)).json.log_lines;
  assert.deepEqual(shown, Array.from({ length: stored }, (_, i) => i + 1));
  await shot(page, 'job-finished');
  // Download links point at the log endpoints and work.
  const txt = await page.request.get(await page.getByRole('link', { name: 'Download text' }).getAttribute('href'));
  assert.equal(txt.status(), 200);
  const nd = await page.request.get(await page.getByRole('link', { name: 'Download NDJSON' }).getAttribute('href'));
  assert.equal(nd.status(), 200);
  await done(page);
});

test('host detail: every tab renders; schedules and source groups can be added', async (t) => {
  if (skipUnless(t, 'hosts', 'enroll', 'agent')) return;
  if (!state.host) { t.skip('needs the host from the add-host scenario'); return; }
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const id = state.host.id;
  await page.goto(`/#/hosts/${id}/snapshots`);
  const heading = page.getByRole('heading', { name: /\d+ snapshots?/ });
  await heading.waitFor({ timeout: 30000 });
  // A backup started elsewhere shows up in the open tab without a reload.
  const before = parseInt(await heading.textContent(), 10);
  const job = await admin.post(`/api/v1/hosts/${id}/jobs`, { kind: 'backup', group: 'default' });
  assert.equal(job.status, 201, job.text);
  await page.getByRole('heading', { name: `${before + 1} snapshots` }).waitFor({ timeout: 60000 });
  // Compare two snapshots: a diff job whose result shows on the job page.
  const boxes = page.getByRole('checkbox', { name: /Select snapshot .* for comparison/ });
  await boxes.nth(0).check();
  assert.ok(await page.getByRole('button', { name: 'Compare 2 selected' }).isDisabled());
  await boxes.nth(1).check();
  await page.getByRole('button', { name: 'Compare 2 selected' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: /succeeded|warning/ }).waitFor({ timeout: 60000 });
  await page.getByRole('heading', { name: 'Differences' }).waitFor();
  await shot(page, 'job-diff');
  await page.goto(`/#/hosts/${id}/snapshots`);
  await heading.waitFor();
  assert.deepEqual(await unlabelledControls(page), []);
  await shot(page, 'host-snapshots');
  const has = {
    sources: await routeExists(server, 'GET', `/api/v1/hosts/${id}/sources`),
    schedules: await routeExists(server, 'GET', `/api/v1/hosts/${id}/schedules`),
  };
  await page.getByRole('link', { name: 'Sources' }).click();
  if (has.sources) {
    await page.getByRole('heading', { name: 'default', exact: true }).waitFor();
    await page.getByLabel('Name (restic tag)').fill('etc');
    await page.getByLabel('Paths (one per line)').fill(state.data);
    await page.getByRole('button', { name: 'Add group' }).click();
    await page.getByRole('heading', { name: 'etc', exact: true }).waitFor();
    // Deleting a group asks first.
    const etc = page.locator('article', { has: page.getByRole('heading', { name: 'etc', exact: true }) });
    await etc.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete group' }).click();
    await page.getByRole('heading', { name: 'etc', exact: true }).waitFor({ state: 'detached' });
    await page.getByLabel('Name (restic tag)').fill('etc');
    await page.getByLabel('Paths (one per line)').fill(state.data);
    await page.getByRole('button', { name: 'Add group' }).click();
    await page.getByRole('heading', { name: 'etc', exact: true }).waitFor();
  } else {
    await page.getByText('Source groups not available').waitFor();
  }
  assert.deepEqual(await unlabelledControls(page), []);
  await shot(page, 'host-sources');
  await page.getByRole('link', { name: 'Schedules' }).click();
  if (has.schedules) {
    await page.getByLabel(/Cron expression/).fill('30 3 * * 1-5');
    await page.getByText('At 03:30 on Monday to Friday.').waitFor();
    await page.getByRole('button', { name: 'Add schedule' }).click();
    await page.locator('td code', { hasText: '30 3 * * 1-5' }).waitFor();
  } else {
    await page.getByText('Schedules not available').waitFor();
  }
  assert.deepEqual(await unlabelledControls(page), []);
  await shot(page, 'host-schedules');
  await page.getByRole('link', { name: 'Repository' }).click();
  await page.getByRole('button', { name: 'Prune' }).waitFor();
  await shot(page, 'host-repo');
  // Destructive actions confirm first; cancelling starts nothing.
  await page.getByRole('button', { name: 'Prune' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.match(page.url(), /\/repo$/);
  await page.getByRole('link', { name: 'Jobs' }).last().click();
  await page.getByRole('figure').first().waitFor();
  await shot(page, 'host-jobs');
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('button', { name: 'Delete host…' }).waitFor();
  await shot(page, 'host-settings');
  await page.goto('/#/jobs');
  await page.getByRole('heading', { name: 'Jobs' }).waitFor();
  await page.locator('tbody tr').first().waitFor();
  await shot(page, 'jobs');
  await page.goto(`/#/hosts/${id}/restore`);
  await page.getByRole('heading', { name: 'Choose a snapshot' }).waitFor();
  await shot(page, 'restore-snapshot');
  await done(page);

  const narrow = await newPage(browser, server, { width: 360, height: 740 });
  await uiLogin(narrow, ADMIN.username, ADMIN.password);
  await shot(narrow, 'dashboard-360');
  await narrow.goto(`/#/hosts/${id}`);
  await narrow.locator('h1.host-title').waitFor();
  const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `host page is ${overflow}px wider than 360 px`);
  await shot(narrow, 'host-360');
  await done(narrow);

  const dark = await newPage(browser, server, { colorScheme: 'dark' });
  await uiLogin(dark, ADMIN.username, ADMIN.password);
  await dark.locator('a.host-link', { hasText: 'web-01' }).waitFor();
  await shot(dark, 'dashboard-dark');
  await dark.goto(`/#/hosts/${id}/jobs`);
  await dark.locator('tbody a').first().click();
  await dark.getByRole('heading', { name: 'Log' }).waitFor();
  await shot(dark, 'job-dark');
  await done(dark);
});

test('browse a snapshot tree and restore a file to a new directory, then in place (typed confirmation)', async (t) => {
  if (skipUnless(t, 'hosts', 'enroll', 'agent', 'tree')) return;
  if (!state.host) { t.skip('needs the host from the add-host scenario'); return; }
  const snaps = await waitFor(async () => {
    const r = await admin.get(`/api/v1/hosts/${state.host.id}/snapshots`);
    return r.status === 200 && r.json.items.length ? r.json.items : null;
  }, { timeout: 60000, what: 'a snapshot' });
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${state.host.id}/snapshots`);
  await page.getByRole('link', { name: `Restore from snapshot ${snaps[0].short_id}` }).click();
  await page.getByRole('heading', { name: /Choose files from/ }).waitFor();
  // Walk down to the data directory, opening each folder lazily.
  const parts = state.data.split('/').filter(Boolean);
  let prefix = '';
  for (const part of parts) {
    prefix += '/' + part;
    await page.getByRole('button', { name: `Open ${prefix}`, exact: true }).click();
  }
  await page.getByRole('button', { name: `Open ${state.data}/docs`, exact: true }).click();
  await page.getByRole('checkbox', { name: `Select ${state.data}/docs/hello.txt` }).check();
  assert.deepEqual(await unlabelledControls(page), []);
  await shot(page, 'restore-tree');
  await page.getByRole('button', { name: 'Next: choose target →' }).click();
  const target = path.join(work, 'restored');
  await page.getByLabel('Target directory (optional)').fill(target);
  await page.getByRole('button', { name: 'Next: review →' }).click();
  await page.getByRole('heading', { name: 'Review and start' }).waitFor();
  await page.getByRole('button', { name: 'Start restore' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: /succeeded|warning/ }).waitFor({ timeout: 120000 });
  const restored = path.join(target, state.data, 'docs', 'hello.txt');
  await waitFor(() => fs.existsSync(restored), { what: restored });
  assert.equal(fs.readFileSync(restored, 'utf8'), 'hello from the browser test\n');
  assert.ok(!fs.existsSync(path.join(target, state.data, 'notes.md')), 'only the chosen file was restored');

  // In place: needs the host name typed before the wizard goes on.
  const notes = path.join(state.data, 'notes.md');
  fs.writeFileSync(notes, 'damaged\n');
  await page.goto(`/#/hosts/${state.host.id}/restore?snapshot=${encodeURIComponent(snaps[0].id)}`);
  await page.getByRole('heading', { name: /Choose files from/ }).waitFor();
  prefix = '';
  for (const part of parts) {
    prefix += '/' + part;
    await page.getByRole('button', { name: `Open ${prefix}`, exact: true }).click();
  }
  await page.getByRole('checkbox', { name: `Select ${notes}` }).check();
  await page.getByRole('button', { name: 'Next: choose target →' }).click();
  await page.getByRole('radio', { name: /In place/ }).check();
  await page.getByLabel(/Type the host name/).fill('wrong');
  await page.getByRole('button', { name: 'Next: review →' }).click();
  await page.getByText('Type the host name exactly').waitFor();
  await page.getByLabel(/Type the host name/).fill('web-01');
  await page.getByRole('button', { name: 'Next: review →' }).click();
  await page.getByText('in place, over the original files').waitFor();
  await page.getByRole('button', { name: 'Start restore' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: /succeeded|warning/ }).waitFor({ timeout: 120000 });
  assert.equal(fs.readFileSync(notes, 'utf8'), '# notes\n');
  await done(page);
});

test('cancel a running backup from the job page (with confirmation)', async (t) => {
  if (skipUnless(t, 'hosts', 'enroll', 'agent')) return;
  if (!state.host) { t.skip('needs the host from the add-host scenario'); return; }
  // New data, so restic has to upload again through the throttled wrapper.
  const more = path.join(state.data, 'more');
  fs.mkdirSync(more, { recursive: true });
  for (let i = 0; i < 16; i++) fs.writeFileSync(path.join(more, `blob-${i}.bin`), crypto.randomBytes(1024 * 1024));
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto(`/#/hosts/${state.host.id}`);
  await page.locator('.head-actions').getByRole('button', { name: 'Back up now' }).click();
  await page.waitForURL(/#\/jobs\//);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 60000 });
  // Dismissing the dialog cancels nothing.
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel', exact: true }).click();
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor();
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel job' }).click();
  await page.locator('.page-head .badge', { hasText: 'cancelled' }).waitFor({ timeout: 60000 });
  assert.ok(await page.getByRole('button', { name: 'Cancel job' }).isHidden(), 'no cancel button on a finished job');
  await shot(page, 'job-cancelled');
  await done(page);
});

test('a viewer sees hosts but no write actions', async (t) => {
  if (skipUnless(t, 'hosts', 'enroll', 'agent')) return;
  if (!state.host) { t.skip('needs the host from the add-host scenario'); return; }
  const r = await admin.post('/api/v1/users', { username: 'viewer1', password: 'viewer password 1', role: 'viewer' });
  assert.equal(r.status, 201, r.text);
  const page = await newPage(browser, server);
  await uiLogin(page, 'viewer1', 'viewer password 1');
  await page.locator('a.host-link', { hasText: 'web-01' }).waitFor();
  assert.equal(await page.getByRole('button', { name: /Run backup now/ }).count(), 0);
  assert.equal(await page.getByRole('link', { name: '+ Add host' }).count(), 0);
  await page.goto(`/#/hosts/${state.host.id}`);
  await page.getByRole('heading', { name: 'web-01' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Back up now' }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'Restore…' }).count(), 0);
  await page.goto(`/#/hosts/${state.host.id}/repo`);
  await page.getByRole('heading', { name: 'Repository' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Prune' }).count(), 0);
  await page.goto(`/#/hosts/${state.host.id}/settings`);
  await page.getByText('Operators can change these settings.').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Delete host…' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Save settings' }).count(), 0);
  await shot(page, 'host-viewer');
  await done(page);
});

test('a host name containing <script> is shown as text (hostile tags and URLs too)', async (t) => {
  if (skipUnless(t, 'hosts', 'enroll', 'agent')) return;
  const evil = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  // The server may refuse such a name outright (it allows A-Z a-z 0-9 . _ -);
  // then the same string must still render as text wherever users can put it.
  let name = evil;
  let tok = await admin.post('/api/v1/enrollment-tokens', { hostname: evil, repository: { url: evil, password: REPO_PASSWORD }, paths: [work], tags: [evil] });
  if (tok.status === 400) {
    name = 'evil-host';
    tok = await admin.post('/api/v1/enrollment-tokens', { hostname: name, repository: { url: evil, password: REPO_PASSWORD }, paths: [work], tags: [evil] });
  }
  assert.equal(tok.status, 201, tok.text);
  const agent = new Agent(server);
  agents.push(agent);
  await agent.enroll(tok.json.token);
  await page.goto('/#/');
  const link = page.locator('a.host-link', { hasText: name });
  await link.waitFor();
  assert.equal(await link.textContent(), name);
  const row = page.locator('tr', { has: link });
  assert.equal(await row.locator('.tag').first().textContent(), evil, 'tag rendered as text');
  await link.click();
  await page.locator('h1.host-title').waitFor();
  assert.equal(await page.locator('h1.host-title').textContent(), name);
  await page.getByRole('link', { name: 'Repository' }).click();
  await page.locator('.kv code', { hasText: 'window.__xss' }).waitFor();
  assert.equal(await page.locator('.kv code', { hasText: 'window.__xss' }).textContent(), evil, 'URL rendered as text');
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  assert.equal(await page.locator('main script').count(), 0);
  await shot(page, 'host-hostile-values');
  // Deleting a host needs its name typed into the confirmation dialog.
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('button', { name: 'Delete host…' }).click();
  const dialog = page.getByRole('dialog');
  assert.ok(await dialog.getByRole('button', { name: 'Delete host' }).isDisabled());
  await dialog.getByLabel(/Type “.*” to confirm/).fill(name);
  await dialog.getByRole('button', { name: 'Delete host' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.locator('a.host-link', { hasText: name }).waitFor({ state: 'detached' });
  await done(page);
});

