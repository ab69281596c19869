// auth.test.js — first-run bootstrap, sign-in, account, admin pages, CSP,
// narrow screens.  Needs only the server (no agent).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, Client, ADMIN, launchBrowser, newPage, done, shot, uiLogin, fleetApiMissing, waitFor } from './harness.js';

let server, browser, allow = [];
// Until the fleet API lands, the dashboard's calls to it are 404s in the console.
before(async () => {
  server = await new Server().start();
  browser = await launchBrowser();
  if (await fleetApiMissing(server)) allow = [/status of 404/];
});
after(async () => {
  if (browser) await browser.close();
  if (server) { await server.stop(); server.cleanup(); } // stop() throws on a crash or sanitizer report
});

test('bootstrap through the setup page, then sign in', async () => {
  const page = await newPage(browser, server);
  await page.goto('/#/login');
  await page.getByText('This server has no users yet').waitFor();
  await shot(page, 'login');
  const { url } = await server.bootstrapUrl();
  await page.goto(url);
  await page.getByRole('heading', { name: 'Set up restic-manager' }).waitFor();
  await shot(page, 'bootstrap');
  await page.getByLabel('Administrator username').fill(ADMIN.username);
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByLabel('Repeat password').fill('short');
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await page.getByText('at least 12 characters').first().waitFor();
  await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
  await page.getByLabel('Repeat password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/', 'the token leaves the address bar');
  await page.getByText('No hosts yet').first().waitFor();
  await shot(page, 'dashboard-empty');
  // The setup link works once.
  await page.goto(url);
  await page.locator('.notice', { hasText: 'already set up' }).waitFor();
  await page.getByLabel('Administrator username').fill('other');
  await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
  await page.getByLabel('Repeat password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await page.locator('.error', { hasText: 'already set up' }).waitFor();
  // Sign out, wrong password, then sign in.
  await page.goto('/#/');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Wrong username or password.').waitFor();
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  // Failed API calls show in the console as resource errors; only the wrong password and the used link may.
  await done(page, [...allow, /status of 40[139]/]);
});

test('a reload keeps the session and a lost CSRF token is recovered', async () => {
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto('/#/account');
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  // Drop the stored CSRF token: the next write must still work (GET /auth/me gives it back).
  await page.evaluate(() => sessionStorage.clear());
  await page.reload();
  await page.getByLabel('Token name').fill('ci-script');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.getByText('shown only once').waitFor();
  const token = await page.locator('.notice code.secret').textContent();
  assert.match(token, /^[A-Za-z0-9_-]{20,}/);
  await page.getByRole('cell', { name: 'ci-script', exact: true }).waitFor();
  await shot(page, 'account');
  // The token works as a Bearer token.
  const r = await fetch(server.url + '/api/v1/auth/me', { headers: { Authorization: 'Bearer ' + token } });
  assert.equal(r.status, 200);
  // Revoke with confirmation.
  await page.getByRole('button', { name: 'Revoke token ci-script' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.getByText('No API tokens yet').waitFor();
  const r2 = await fetch(server.url + '/api/v1/auth/me', { headers: { Authorization: 'Bearer ' + token } });
  assert.equal(r2.status, 401);
  await done(page, allow);
});

test('admin manages users; a viewer sees no admin or write actions', async () => {
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  await page.getByLabel('Username').fill('vera');
  await page.getByLabel('Initial password').fill('viewer password 1');
  await page.getByLabel('Role', { exact: true }).selectOption('viewer');
  await page.getByRole('button', { name: 'Add user' }).click();
  await page.getByRole('cell', { name: 'vera', exact: true }).waitFor();
  // Disable (confirmed) and enable again.
  await page.getByRole('button', { name: 'Disable user vera' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Disable user' }).click();
  await page.getByRole('button', { name: 'Enable user vera' }).click();
  await page.getByRole('button', { name: 'Disable user vera' }).waitFor();
  await shot(page, 'users');
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
  await page.getByRole('cell', { name: 'user.create' }).first().waitFor();
  await page.getByLabel('Action (prefix)').fill('user.login');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('cell', { name: 'user.login' }).first().waitFor();
  assert.equal(await page.getByRole('cell', { name: 'user.create' }).count(), 0);
  const csv = await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href');
  assert.match(csv, /^\/api\/v1\/audit\/export\.csv\?action=user\.login/);
  const r = await page.request.get(csv);
  assert.equal(r.status(), 200);
  assert.match(await r.text(), /user\.login/);
  await shot(page, 'audit');
  await done(page, allow);

  const vpage = await newPage(browser, server);
  await uiLogin(vpage, 'vera', 'viewer password 1');
  const nav = vpage.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav.getByRole('link', { name: 'Add host' }).count(), 0);
  assert.equal(await nav.getByRole('link', { name: 'Users' }).count(), 0);
  assert.equal(await nav.getByRole('link', { name: 'Audit' }).count(), 0);
  assert.equal(await vpage.getByRole('link', { name: '+ Add host' }).count(), 0);
  await vpage.goto('/#/users');
  await vpage.getByText('This page needs the admin role').waitFor();
  await vpage.goto('/#/hosts/new');
  await vpage.getByText('This page needs the operator role').waitFor();
  await done(vpage, allow);
});

test('keyboard only: sign in, move through the navigation, confirm dialogs with Escape', async () => {
  const page = await newPage(browser, server);
  await page.goto('/#/login');
  await page.getByLabel('Username').waitFor();
  // The username field has focus; the whole form works from the keyboard.
  await page.keyboard.type(ADMIN.username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(ADMIN.password);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  // Focus moved to the new page's content; Shift+Tab goes back up into the
  // navigation, Enter follows a link.
  assert.equal(await page.evaluate(() => document.getElementById('main').contains(document.activeElement)), true);
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press('Shift+Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.textContent === 'Users');
  }
  assert.ok(reached, 'the Users link is reachable from the keyboard');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  // A destructive action's dialog takes focus and Escape cancels it.
  await page.getByRole('button', { name: 'Delete user vera' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'hidden' });
  await page.getByRole('cell', { name: 'vera', exact: true }).waitFor();
  // Every form control on the page has an accessible label.
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('main input, main select, main textarea')]
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map((el) => el.outerHTML));
  assert.deepEqual(unlabelled, []);
  await done(page, allow);
});

test('strict CSP headers on the UI and a usable 360 px layout in dark mode', async () => {
  const page = await newPage(browser, server, { width: 360, height: 740, colorScheme: 'dark' });
  const resp = await page.goto('/#/login');
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe/);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the 360 px viewport`);
  await shot(page, 'dashboard-360-dark');
  await page.goto('/#/account');
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await shot(page, 'account-360-dark');
  await done(page, allow);
});


test('account: change the own password; a wrong current password is refused and other sessions end', async () => {
  const admin = await new Client(server).login(ADMIN.username, ADMIN.password);
  const r = await admin.post('/api/v1/users', { username: 'olga', password: 'olga password 1', role: 'operator' });
  assert.equal(r.status, 201, r.text);
  const other = await new Client(server).login('olga', 'olga password 1');
  const page = await newPage(browser, server);
  await uiLogin(page, 'olga', 'olga password 1');
  await page.goto('/#/account');
  await page.getByRole('heading', { name: 'Change password' }).waitFor();
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Change password' }) });
  await page.getByLabel('Current password').fill('olga password 1');
  await page.getByLabel('New password', { exact: true }).fill('short');
  await page.getByLabel('Repeat new password').fill('short');
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.getByText('at least 12 characters').last().waitFor();
  await page.getByLabel('New password', { exact: true }).fill('olga new password 2');
  await page.getByLabel('Repeat new password').fill('olga new password 3');
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.getByText('The new passwords differ.').waitFor();
  await page.getByLabel('Current password').fill('not my password');
  await page.getByLabel('Repeat new password').fill('olga new password 2');
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.getByRole('alert').waitFor();
  assert.equal((await other.get('/api/v1/auth/me')).status, 200, 'nothing changed yet');
  await page.getByLabel('Current password').fill('olga password 1');
  await form.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed').waitFor();
  assert.equal(await page.getByLabel('Current password').inputValue(), '', 'the form is cleared');
  assert.equal((await other.get('/api/v1/auth/me')).status, 401, 'the other session ended');
  // This session goes on; the new password signs in.
  await page.reload();
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await new Client(server).login('olga', 'olga new password 2');
  await done(page, [...allow, /status of 403/]);
});

test('users: change a role, reset a password and delete (typed confirmation)', async () => {
  const admin = await new Client(server).login(ADMIN.username, ADMIN.password);
  const r = await admin.post('/api/v1/users', { username: 'pete', password: 'pete password 1', role: 'viewer' });
  assert.equal(r.status, 201, r.text);
  const pid = r.json.id ?? r.json.user.id;
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto('/#/users');
  const dialog = page.getByRole('dialog');
  // Role change asks first; cancelling keeps the old role.
  await page.getByLabel('Role of pete', { exact: true }).selectOption('operator');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await waitFor(async () => (await page.getByLabel('Role of pete', { exact: true }).inputValue()) === 'viewer', { what: 'the old role back' });
  await page.getByLabel('Role of pete', { exact: true }).selectOption('operator');
  await dialog.getByRole('button', { name: 'Change role' }).click();
  await page.getByText('Role changed').waitFor();
  const users = (await admin.get('/api/v1/users')).json.items;
  assert.equal(users.find((u) => u.id === pid).role, 'operator');
  // Admin password reset: OK only with 12+ characters.
  await page.getByRole('button', { name: 'Reset the password of pete' }).click();
  const ok = dialog.getByRole('button', { name: 'Set password' });
  await dialog.getByLabel('New password').fill('too short');
  assert.ok(await ok.isDisabled());
  await dialog.getByLabel('New password').fill('pete reset password');
  await ok.click();
  await page.getByText('Password of pete reset').waitFor();
  await new Client(server).login('pete', 'pete reset password');
  // Delete: the user name must be typed.
  await page.getByRole('button', { name: 'Delete user pete' }).click();
  const del = dialog.getByRole('button', { name: 'Delete user' });
  assert.ok(await del.isDisabled());
  const typed = dialog.getByLabel(/Type “pete” to confirm/);
  await typed.fill('pet');
  assert.ok(await del.isDisabled());
  await typed.press('Enter'); // not yet: the dialog stays
  assert.ok(await dialog.isVisible());
  await typed.fill('pete');
  await typed.press('Enter'); // Enter confirms once the name matches
  await page.getByRole('cell', { name: 'pete', exact: true }).waitFor({ state: 'detached' });
  assert.equal((await admin.get('/api/v1/users')).json.items.some((u) => u.username === 'pete'), false);
  // The admin cannot lock themselves out from this page.
  assert.ok(await page.getByRole('button', { name: `Delete user ${ADMIN.username}` }).isDisabled());
  await done(page, allow);
});

test('audit trail: pages of 50 (older/newer), outcome and date filters, CSV export of the filter', async () => {
  const admin = await new Client(server).login(ADMIN.username, ADMIN.password);
  for (let i = 0; i < 60; i++) {
    const r = await admin.post('/api/v1/tokens', { name: `bulk-${i}` });
    assert.equal(r.status, 201, r.text);
  }
  const page = await newPage(browser, server);
  await uiLogin(page, ADMIN.username, ADMIN.password);
  await page.goto('/#/audit');
  const rows = page.locator('table.audit tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 50);
  const seqs = () => rows.evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.seq)));
  const first = await seqs();
  assert.ok(first.every((s, i) => i === 0 || s < first[i - 1]), 'newest first');
  assert.ok(await page.getByRole('button', { name: '← Newer' }).isDisabled());
  await page.getByText('Page 1').waitFor();
  await page.getByRole('button', { name: 'Older →' }).click();
  await page.getByText('Page 2').waitFor();
  const second = await seqs();
  assert.ok(second.length > 0 && Math.max(...second) < Math.min(...first), 'page 2 continues where page 1 ended');
  await page.getByRole('button', { name: '← Newer' }).click();
  await page.getByText('Page 1').waitFor();
  assert.deepEqual(await seqs(), first);
  // Outcome filter (wrong passwords earlier in this file were recorded as failed).
  await page.getByLabel('Outcome').selectOption('failed');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('Page 1').waitFor();
  await waitFor(async () => (await rows.count()) > 0 && (await rows.count()) < 50, { what: 'filtered rows' });
  for (const o of await rows.locator('td[data-label="Outcome"]').allTextContents()) assert.match(o, /failed/);
  const csv = await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href');
  assert.match(csv, /outcome=failed/);
  const body = await (await page.request.get(csv)).text();
  const lines = body.trim().split(/\r?\n/);
  assert.equal(lines[0], 'seq,time,actor,client,action,target,outcome,details,prev,hash');
  assert.equal(lines.length - 1, await rows.count(), 'the export holds exactly the filtered records');
  // A date range in the future matches nothing: an empty state, not an error.
  await page.getByLabel('Outcome').selectOption('');
  await page.getByLabel('From').fill('2999-01-01');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('No audit records match').waitFor();
  await done(page, allow);
});

test('the harness fails a page on a CSP violation (inline script or style) and on a console error', async () => {
  const page = await newPage(browser, server);
  await page.goto('/#/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inline = 1';
    document.body.append(s);
    document.body.setAttribute('style', 'background: red');
  });
  await waitFor(() => page.errors.filter((e) => /CSP violation/.test(e)).length >= 2, { what: 'both violations reported' });
  assert.equal(await page.evaluate(() => window.__inline), undefined, 'the inline script did not run');
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(255, 0, 0)');
  await assert.rejects(done(page), /unexpected browser errors:[\s\S]*CSP violation: script-src/);
});
