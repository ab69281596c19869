// app.js — entry point: session state, hash router (#/hosts/7), top navigation.
// Pages live in pages_*.js; each exports render functions (ctx) => cleanup?.
// ctx: {main, params, query, session, can(role), navigate(hash), onCleanup(fn)}.
import { api, setCsrf, recoverCsrf, setUnauthenticatedHandler } from './api.js';
import { h, clear, errorBox, loading, toast, put } from './ui.js';
import { pageLogin, pageBootstrap, pageAccount } from './pages_auth.js';
import { pageDashboard, pageAddHost } from './pages_dash.js';
import { pageHost } from './pages_host.js';
import { pageJob, pageRestore, pageJobs } from './pages_job.js';
import { pageAudit, pageUsers } from './pages_admin.js';
import { pageAlerts, pageChannels } from './pages_alerts.js';

const ROLES = { viewer: 1, operator: 2, admin: 3 };
const session = { user: null };
const HINT_KEY = 'rm_signed_in';

const routes = [
  ['/login', pageLogin, { public: true, title: 'Sign in' }],
  ['/', pageDashboard, { title: 'Dashboard', nav: 'dash' }],
  ['/hosts/new', pageAddHost, { title: 'Add host', nav: 'add', role: 'operator' }],
  ['/hosts/:id/restore', pageRestore, { title: 'Restore', nav: 'dash', role: 'operator' }],
  ['/hosts/:id/:tab', pageHost, { title: 'Host', nav: 'dash' }],
  ['/hosts/:id', pageHost, { title: 'Host', nav: 'dash' }],
  ['/jobs', pageJobs, { title: 'Jobs', nav: 'jobs' }],
  ['/jobs/:id', pageJob, { title: 'Job', nav: 'jobs' }],
  ['/alerts', pageAlerts, { title: 'Alerts', nav: 'alerts' }],
  ['/notifications', pageChannels, { title: 'Notification channels', nav: 'notifications', role: 'admin' }],
  ['/audit', pageAudit, { title: 'Audit trail', nav: 'audit', role: 'admin' }],
  ['/users', pageUsers, { title: 'Users', nav: 'users', role: 'admin' }],
  ['/account', pageAccount, { title: 'Account', nav: 'account' }],
];

function roleOf(user) { return ROLES[(user && user.role) || ''] || 0; }
export function can(role) { return roleOf(session.user) >= (ROLES[role] || 99); }

function parseHash() {
  let raw = location.hash.replace(/^#/, '') || '/';
  let query = new URLSearchParams();
  const q = raw.indexOf('?');
  if (q >= 0) { query = new URLSearchParams(raw.slice(q + 1)); raw = raw.slice(0, q); }
  const parts = raw.split('/').filter(Boolean);
  for (const [pattern, fn, opts] of routes) {
    const pp = pattern.split('/').filter(Boolean);
    if (pp.length !== parts.length) continue;
    const params = {};
    let ok = true;
    pp.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(parts[i]);
      else if (p !== parts[i]) ok = false;
    });
    if (ok) return { fn, opts, params, query, path: raw };
  }
  return null;
}

function renderNav(active) {
  const topbar = document.getElementById('topbar');
  const nav = clear(document.getElementById('nav'));
  const who = clear(document.getElementById('who'));
  if (!session.user) { topbar.hidden = true; return; }
  topbar.hidden = false;
  const items = [['dash', '#/', 'Dashboard'], ['jobs', '#/jobs', 'Jobs'], ['alerts', '#/alerts', 'Alerts']];
  if (can('operator')) items.push(['add', '#/hosts/new', 'Add host']);
  if (can('admin')) items.push(['notifications', '#/notifications', 'Notifications'], ['audit', '#/audit', 'Audit'], ['users', '#/users', 'Users']);
  for (const [key, href, label] of items)
    put(nav, h('a', { href, class: key === active ? 'active' : undefined, 'aria-current': key === active ? 'page' : undefined, text: label }));
  const logout = h('button', { type: 'button', class: 'btn small ghost', text: 'Sign out' });
  logout.addEventListener('click', async () => {
    try { await api.post('/auth/logout'); } catch { /* ignore: the session may be gone */ }
    session.user = null;
    setCsrf(null);
    localStorage.removeItem(HINT_KEY);
    location.hash = '#/login';
  });
  put(who, h('a', { href: '#/account', class: active === 'account' ? 'active' : undefined, title: 'Your account' },
    h('span', { text: session.user.username }), h('span', { class: 'role', text: session.user.role })), logout);
}

let cleanups = [];
let renderSeq = 0;

async function loadSession() {
  try {
    const me = await api.get('/auth/me');
    session.user = (me && me.user) || me;
    localStorage.setItem(HINT_KEY, '1');
    const t = me && (me.csrf_token || (me.session && me.session.csrf_token));
    if (t) setCsrf(t);
    return true;
  } catch (e) {
    session.user = null;
    if (e.status !== 401) throw e;
    localStorage.removeItem(HINT_KEY);
    return false;
  }
}

export function navigate(hash) { if (location.hash === hash) render(); else location.hash = hash; }

async function render() {
  const seq = ++renderSeq;
  for (const fn of cleanups) { try { fn(); } catch { /* ignore */ } }
  cleanups = [];
  const main = clear(document.getElementById('main'));
  if (location.pathname === '/bootstrap') {
    renderNav(null);
    document.title = 'Set up · restic-manager';
    pageBootstrap(makeCtx(main, {}, new URLSearchParams(location.search), seq));
    return;
  }
  const route = parseHash();
  if (!route) {
    renderNav(null);
    put(main, h('h1', { text: 'Page not found' }), h('p', null, 'There is nothing at this address. ', h('a', { href: '#/', text: 'Go to the dashboard' })));
    return;
  }
  if (!route.opts.public && !session.user) {
    put(main, loading());
    let ok = false;
    // Only probe the session when this browser signed in before: a probe
    // without a session is a 401 that the console would report as an error.
    try { if (localStorage.getItem(HINT_KEY)) ok = await loadSession(); } catch (e) { put(clear(main), errorBox(e, 'your session')); return; }
    if (seq !== renderSeq) return;
    if (!ok) {
      const back = location.hash && !location.hash.startsWith('#/login') ? location.hash : '';
      location.replace('#/login' + (back ? '?next=' + encodeURIComponent(back) : ''));
      return;
    }
    clear(main);
  }
  document.title = `${route.opts.title} · restic-manager`;
  renderNav(route.opts.nav);
  if (route.opts.role && !can(route.opts.role)) {
    put(main, h('h1', { text: route.opts.title }), h('div', { class: 'notice', text: `This page needs the ${route.opts.role} role; you are signed in as ${session.user.role}.` }));
    return;
  }
  try {
    const cleanup = await route.fn(makeCtx(main, route.params, route.query, seq));
    if (typeof cleanup === 'function') cleanups.push(cleanup);
  } catch (e) {
    put(main, errorBox(e));
  }
  // Keyboard and screen-reader users land on the new page, not on the old link.
  if (seq === renderSeq && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

function makeCtx(main, params, query, seq) {
  return {
    main, params, query, session, can, navigate,
    onCleanup: (fn) => cleanups.push(fn),
    stale: () => seq !== renderSeq,
    signedIn: async (loginResp) => {
      const t = loginResp && loginResp.csrf_token;
      if (t) setCsrf(t);
      if (loginResp && (loginResp.user || loginResp.username)) session.user = loginResp.user || loginResp;
      localStorage.setItem(HINT_KEY, '1');
      if (!session.user || !session.user.role) await loadSession();
      if (!t) await recoverCsrf();
    },
  };
}

setUnauthenticatedHandler(() => {
  if (!session.user) return;
  session.user = null;
  localStorage.removeItem(HINT_KEY);
  toast('Your session has ended — please sign in again.', 'warn');
  location.hash = '#/login';
});

window.addEventListener('hashchange', render);
// The skip link must not change the hash (that is the router's).
document.querySelector('.skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  document.getElementById('main').focus();
});
render();
