// harness.js — browser-test harness: starts the real restic-manager-server
// (port 0, --ready-file, temporary data directory), drives headless Debian
// Chromium through playwright-core, and offers a small API client for setup.
// Readiness is always polled (ready file, log line, DOM state), never slept.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN_DIR = process.env.RM_BIN_DIR ? path.resolve(ROOT, process.env.RM_BIN_DIR) : path.join(ROOT, 'bin');
export const SHOTS = path.join(ROOT, 'build', 'screenshots');
export const ADMIN = { username: 'admin', password: 'correct horse battery staple' };

/** Poll fn() until it returns a truthy value (sync or async); throw after timeout ms. */
export async function waitFor(fn, { timeout = 20000, interval = 25, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export class Server {
  constructor(opts = {}) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-browser-'));
    this.dataDir = path.join(this.tmp, 'data');
    this.logPath = path.join(this.tmp, 'server.log');
    this.readyFile = path.join(this.tmp, 'ready');
    this.env = opts.env || {};
    this.proc = null;
  }

  async start() {
    const log = fs.openSync(this.logPath, 'a');
    this.proc = spawn(path.join(BIN_DIR, 'restic-manager-server'), ['--listen', '127.0.0.1:0', '--ready-file', this.readyFile], {
      env: { ...process.env, RM_DATA_DIR: this.dataDir, RM_COOKIE_SECURE: 'false', RM_LOG_LEVEL: 'debug', RM_BUNDLED_ASSETS_DIR: path.join(this.tmp, 'bundled'), ...this.env },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    let exited = null;
    this.proc.on('exit', (code, sig) => { exited = code ?? sig; });
    await waitFor(() => exited !== null || fs.existsSync(this.readyFile), { what: 'server ready file' });
    if (exited !== null) throw new Error('server exited early:\n' + this.logText());
    await waitFor(() => fs.readFileSync(this.readyFile, 'utf8').trim(), { what: 'ready file content' });
    this.addr = fs.readFileSync(this.readyFile, 'utf8').trim();
    this.url = 'http://' + this.addr;
    return this;
  }

  logText() { try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; } }

  async bootstrapUrl() {
    const m = await waitFor(() => this.logText().match(/\/bootstrap\?token=([A-Za-z0-9_-]+)/), { what: 'bootstrap URL in the log' });
    return { url: `${this.url}/bootstrap?token=${m[1]}`, token: m[1] };
  }

  /** Stop with SIGTERM; throws if the server crashed, exited non-zero or a
   *  sanitizer reported anything (RM_BIN_DIR=build/san/bin). */
  async stop() {
    if (!this.proc) return;
    let code = this.proc.exitCode;
    if (code === null) {
      const p = new Promise((r) => this.proc.once('exit', (c, sig) => r(c ?? sig)));
      this.proc.kill('SIGTERM');
      code = await p;
    }
    this.proc = null;
    const log = this.logText();
    if (code !== 0 || /AddressSanitizer|runtime error:|LeakSanitizer/.test(log))
      throw new Error(`server exited with ${code}:\n${log.slice(-4000)}`);
  }

  cleanup() { fs.rmSync(this.tmp, { recursive: true, force: true }); }
}

/** A tiny API client (cookie session + CSRF) for test setup. */
export class Client {
  constructor(server) { this.server = server; this.cookie = ''; this.csrf = null; }

  async req(method, p, body) {
    const headers = { Accept: 'application/json' };
    if (this.cookie) headers.Cookie = this.cookie;
    if (this.csrf && method !== 'GET') headers['X-CSRF-Token'] = this.csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(this.server.url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const sc = r.headers.getSetCookie ? r.headers.getSetCookie() : [];
    for (const c of sc) if (c.startsWith('rm_session=')) this.cookie = c.split(';')[0];
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text, headers: r.headers };
  }

  async login(username, password) {
    const r = await this.req('POST', '/api/v1/auth/login', { username, password });
    if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.text}`);
    this.csrf = r.json.csrf_token;
    return this;
  }

  get(p) { return this.req('GET', p); }
  post(p, b) { return this.req('POST', p, b ?? {}); }
}

/** Bootstrap the first admin through the API and return a logged-in client. */
export async function bootstrapAdmin(server) {
  const { token } = await server.bootstrapUrl();
  const c = new Client(server);
  const r = await c.post('/api/v1/bootstrap', { token, ...ADMIN });
  if (r.status !== 201) throw new Error(`bootstrap failed: ${r.status} ${r.text}`);
  return c.login(ADMIN.username, ADMIN.password);
}

export async function launchBrowser() {
  // playwright-core gives every launch a fresh, empty profile directory.
  return chromium.launch({
    executablePath: process.env.RM_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A new page that records console errors, page errors and CSP violations
 *  (page.errors).  Close it with done(page), which fails on any of them. */
export async function newPage(browser, server, { width = 1280, height = 860, colorScheme = 'light', permissions } = {}) {
  const context = await browser.newContext({ baseURL: server.url, viewport: { width, height }, colorScheme, permissions });
  // Chromium reports CSP violations on the console too; the event makes sure
  // none goes unnoticed (e.g. one inside a worker or an ignored report).
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push('console: ' + m.text()); });
  page.on('pageerror', (e) => page.errors.push('pageerror: ' + e.message));
  page.setDefaultTimeout(20000);
  return page;
}

/** Close the page's context; throws when the page logged a console error, a
 *  page error or a CSP violation not matched by allow (regexps). */
export async function done(page, allow = []) {
  const errs = unexpectedErrors(page, allow);
  await page.context().close();
  if (errs.length) throw new Error('unexpected browser errors:\n' + errs.join('\n'));
}

/** Console errors, minus the expected 401 of the session probe on the login page. */
export function unexpectedErrors(page, allow = []) {
  return page.errors.filter((e) => !allow.some((re) => re.test(e)));
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  // Full-page shots of a scrolled page would paint the sticky header mid-page.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

/** Sign in through the login form. */
export async function uiLogin(page, username, password) {
  await page.goto('/#/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
}

/** True when this server build has no fleet API yet (GET /api/v1/hosts is an
 *  unknown route): pages then show their "not available" state, and the
 *  browser logs those 404s, which the console checks must tolerate. */
export async function fleetApiMissing(server) {
  const r = await fetch(server.url + '/api/v1/hosts');
  if (r.status !== 404) return false;
  const body = await r.json().catch(() => null);
  return !!(body && body.error && /route/.test(body.error.message || ''));
}

/** A protocol-v1 agent without restic (fetch only): enrols, says hello and
 *  sends events the way the real agent does. */
export class FakeAgent {
  constructor(srv) { this.server = srv; this.seq = 0; }
  async call(method, p, body) {
    const headers = { 'X-RM-Protocol': '1', 'Content-Type': 'application/json' };
    if (this.token) headers.Authorization = 'Bearer ' + this.token;
    const r = await fetch(this.server.url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = await r.json().catch(() => null);
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  }
  async enroll(token, name) {
    const r = await this.call('POST', '/api/agent/v1/enroll', { token, protocol_version: 1, hostname: name, os: 'linux', arch: 'amd64', agent_version: 'test', restic_version: '0.14.0' });
    this.token = r.agent_token;
    this.id = r.host_id;
    await this.call('POST', '/api/agent/v1/hello', { protocol_version: 1, agent_version: 'test', os: 'linux', arch: 'amd64', hostname: name, restic_version: '0.14.0', schedule_version: 0, running_job_id: null, last_command_seq: 0 });
  }
  send(events) {
    const t = new Date().toISOString();
    return this.call('POST', '/api/agent/v1/events', { events: events.map((e) => ({ seq: ++this.seq, time: t, ...e })) });
  }
}

/** Enrols `agent` (a FakeAgent of admin's server by default) as the new host
 *  `name` (repository /srv/restic/<name>, paths /etc) and returns it. */
export async function enrolFakeAgent(admin, name, agent = new FakeAgent(admin.server)) {
  const tok = await admin.post('/api/v1/enrollment-tokens', { hostname: name, repository: { url: `/srv/restic/${name}`, password: 'repo password' }, paths: ['/etc'] });
  if (tok.status !== 201) throw new Error(`enrollment token: ${tok.status} ${tok.text}`);
  await agent.enroll(tok.json.token, name);
  return agent;
}

export const AGENT_BIN = path.join(BIN_DIR, 'restic-manager-agent');
export const RESTIC = process.env.RM_RESTIC || '/usr/bin/restic';

/** A real agent process (DESIGN.md §6 command line) in its own temp dirs. */
export class Agent {
  constructor(server, { restic: resticPath } = {}) {
    this.server = server;
    this.restic = resticPath || RESTIC;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-'));
    this.configDir = path.join(this.dir, 'config');
    this.stateDir = path.join(this.dir, 'state');
    this.logPath = path.join(this.dir, 'agent.log');
    fs.mkdirSync(this.configDir);
    fs.mkdirSync(this.stateDir);
    this.proc = null;
  }

  common() { return ['--config-dir', this.configDir, '--state-dir', this.stateDir, '--restic', this.restic]; }

  async enroll(token) {
    const log = fs.openSync(this.logPath, 'a');
    const p = spawn(AGENT_BIN, ['enroll', '--server', this.server.url, '--token', token, ...this.common()], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const code = await new Promise((r) => p.on('exit', r));
    if (code !== 0) throw new Error(`agent enroll exited ${code}:\n${this.logText()}`);
  }

  start() {
    const log = fs.openSync(this.logPath, 'a');
    this.proc = spawn(AGENT_BIN, ['run', ...this.common()], { stdio: ['ignore', log, log], env: { ...process.env, RM_LOG_LEVEL: 'debug' } });
    fs.closeSync(log);
    return this;
  }

  logText() { try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; } }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const p = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await p;
  }

  cleanup() { fs.rmSync(this.dir, { recursive: true, force: true }); }
}

/** A restic wrapper that throttles uploads (so a test can watch a backup run). */
export function slowRestic(dir, kib = 1024) {
  const p = path.join(dir, 'restic-slow');
  fs.writeFileSync(p, `#!/bin/sh\nexec ${RESTIC} --limit-upload=${kib} "$@"\n`, { mode: 0o755 });
  return p;
}

/** Run restic synchronously (test setup only: init a repository). */
export async function restic(args, env) {
  const p = spawn(RESTIC, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { out += d; });
  const code = await new Promise((r) => p.on('exit', r));
  if (code !== 0) throw new Error(`restic ${args.join(' ')} exited ${code}: ${out}`);
  return out;
}

/** Is this route known to the server (anything but 404 "no such route")? */
export async function routeExists(server, method, p) {
  const r = await fetch(server.url + p, { method });
  if (r.status !== 404 && r.status !== 405) return true;
  if (r.status === 405) return true;
  const body = await r.json().catch(() => null);
  return !(body && body.error && /route/.test(body.error.message || ''));
}

/** Form controls in <main> without an accessible label (should be none). */
export function unlabelledControls(page) {
  return page.evaluate(() => [...document.querySelectorAll('main input, main select, main textarea')]
    .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML));
}

/** Controls in <main> that are cut off: partly outside the viewport or outside
 *  the box of an ancestor that clips (overflow not visible), except inside
 *  scrollers meant to scroll (.log, .tree, pre, the tab strip). */
export function clippedControls(page) {
  return page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('main button, main a, main input, main select, main textarea')) {
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height || el.closest('.log, .tree, pre, .tabs')) continue;
      let bad = r.left < -1 || r.right > window.innerWidth + 1;
      for (let a = el.parentElement; a && !bad && a !== document.body; a = a.parentElement) {
        const cs = getComputedStyle(a);
        if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
        const ar = a.getBoundingClientRect();
        if (r.left < ar.left - 1 || r.right > ar.right + 1) bad = true;
      }
      if (bad) out.push(`${el.tagName} “${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 30)}”`);
    }
    return out;
  });
}
