// scale.test.js — a fleet larger than one page: the dashboard renders 200
// rows at a time and the calendar the first 50 hosts, with counts shown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Server, Agent, AGENT_BIN, ADMIN, launchBrowser, newPage, shot, uiLogin, unexpectedErrors, bootstrapAdmin, routeExists } from './harness.js';

let server, browser, admin;
before(async () => {
  server = await new Server().start();
  admin = await bootstrapAdmin(server);
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); }
});

test('230 hosts: the dashboard pages its rows and caps the calendar', async (t) => {
  if (!(await routeExists(server, 'POST', '/api/v1/enrollment-tokens')) || !fs.existsSync(AGENT_BIN)) {
    t.skip('needs enrolment tokens and the agent binary');
    return;
  }
  const N = 230;
  for (let i = 0; i < N; i++) {
    const tok = await admin.post('/api/v1/enrollment-tokens', { hostname: `h-${String(i).padStart(3, '0')}`, repository: { url: '/nonexistent/repo', password: 'x' }, paths: ['/srv'] });
    assert.equal(tok.status, 201, tok.text);
    const a = new Agent(server); // enrol only: the host exists, offline
    await a.enroll(tok.json.token);
    a.cleanup();
  }
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.locator('a.host-link').first().waitFor();
  assert.equal(await page.locator('a.host-link').count(), 200);
  assert.match(await page.locator('.table-foot').textContent(), /200 shown · 230 of 230 hosts match/);
  assert.equal(await page.locator('table.calendar tbody tr').count(), 50);
  await page.getByText('The calendar shows the first 50 of 230 hosts').waitFor();
  await page.getByRole('button', { name: 'Show 30 more' }).click();
  assert.equal(await page.locator('a.host-link').count(), 230);
  // Filtering narrows both; sorting by name descending puts h-229 first.
  await page.getByLabel('Filter').fill('h-22');
  await page.getByText('10 shown · 10 of 230 hosts match').waitFor();
  assert.equal(await page.locator('table.calendar tbody tr').count(), 10);
  await page.getByRole('button', { name: /^Host/ }).click();
  assert.equal(await page.locator('a.host-link').first().textContent(), 'h-229');
  await shot(page, 'dashboard-many-hosts');
  assert.deepEqual(unexpectedErrors(page), []);
  await page.context().close();
});
