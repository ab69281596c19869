// contrast.test.js — text contrast of every main page in light and dark
// themes at 360 px and desktop: body, muted, hint, table-header, badge,
// button and link text against its effective background must reach 4.5:1
// (WCAG AA).  Newer pages first: Alerts, Notification channels, host Settings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ADMIN, launchBrowser, newPage, done, uiLogin, bootstrapAdmin, enrolFakeAgent } from './harness.js';

let server, browser, admin, agent;

before(async () => {
  server = await new Server().start();
  admin = await bootstrapAdmin(server);
  browser = await launchBrowser();
  agent = await enrolFakeAgent(admin, 'contrast-1');
  // One job of each end state: badges, calendar cells and chart bars in every colour.
  for (const status of ['succeeded', 'warning', 'failed']) {
    const r = await admin.post(`/api/v1/hosts/${agent.id}/jobs`, { kind: 'backup', paths: ['/etc'] });
    assert.equal(r.status, 201, r.text);
    await agent.send([{ type: 'job.started', job_id: r.json.id, kind: 'backup', actor: 'user' },
      { type: 'job.finished', job_id: r.json.id, status, exit_code: status === 'failed' ? 1 : status === 'warning' ? 3 : 0, ...(status === 'failed' ? { error: 'Fatal: disk full' } : {}) }]);
  }
});

after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); }
});

/** Contrast of main text (body, headings, table cells) and muted text
 *  (.muted, .hint, .empty, table headers) against the effective background,
 *  composited through ancestors; colours are resolved through a canvas so
 *  color-mix() and rgba() values work.  Returns the failures. */
const lowContrast = (page) => page.evaluate(() => {
  const cv = document.createElement('canvas');
  cv.width = cv.height = 1;
  const g = cv.getContext('2d', { willReadFrequently: true });
  const rgba = (c) => { g.clearRect(0, 0, 1, 1); g.fillStyle = '#000'; g.fillStyle = c; g.fillRect(0, 0, 1, 1); const d = g.getImageData(0, 0, 1, 1).data; return [d[0], d[1], d[2], d[3] / 255]; };
  const over = (top, bot) => top.slice(0, 3).map((v, i) => v * top[3] + bot[i] * (1 - top[3])).concat(1);
  const bgOf = (el) => {
    const layers = [];
    for (let a = el; a; a = a.parentElement) {
      const c = rgba(getComputedStyle(a).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const l of layers.reverse()) bg = over(l, bg);
    return bg;
  };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const out = [];
  const sel = 'body, main h1, main h2, main p, main td, main th, main label, main dd, main dt, main .muted, main .hint, main .empty, main .crumbs, main .tag, main .badge, main .error, main .notice, main .btn, main a';
  const els = [...document.querySelectorAll(sel)].filter((el) => el === document.body || (el.getClientRects().length && el.textContent.trim() && !el.closest('.sr-only, svg')));
  for (const el of els.slice(0, 300)) {
    const bg = bgOf(el);
    const fg = over(rgba(getComputedStyle(el).color), bg);
    const r = ratio(fg, bg);
    if (r < 4.5) out.push(`${el.tagName.toLowerCase()}.${el.className || '-'} “${el.textContent.trim().slice(0, 30)}” ${r.toFixed(2)}`);
  }
  return { checked: els.length, out };
});

test('contrast ≥ 4.5 for main and muted text on every main page (light/dark, 360 px/desktop)', async () => {
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const pages = [['/#/alerts', 'Alerts'], ['/#/notifications', 'Notification channels'], [`/#/hosts/${agent.id}/settings`, 'Settings'],
    ['/#/', 'Dashboard'], [`/#/hosts/${agent.id}/jobs`, 'Jobs'], ['/#/jobs', 'Jobs'], ['/#/users', 'Users'], ['/#/audit', 'Audit trail'], ['/#/account', 'Your account'], ['/#/hosts/new', 'Add a host']];
  const failures = [];
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const width of [360, 1280]) {
      await page.setViewportSize({ width, height: 800 });
      for (const [url, heading] of pages) {
        await page.goto(url);
        await page.getByRole('heading', { name: heading, exact: true }).first().waitFor();
        await page.locator('main .loading').first().waitFor({ state: 'detached' }).catch(() => {});
        const r = await lowContrast(page);
        assert.ok(r.checked > 3, `${url}: too few text elements checked (${r.checked})`);
        for (const o of r.out) failures.push(`${scheme} ${width}px ${url}: ${o}`);
      }
    }
  }
  assert.deepEqual(failures, []);
  await done(page);
});
