// pages_auth.js — sign-in, first-run bootstrap, own account (password, tokens).
import { api } from './api.js';
import { h, field, errorBox, emptyState, toast, confirmDialog, copyText, fmtTime, ageEl, loading, clear, put } from './ui.js';

function authCard(title, subtitle, form) {
  return h('div', { class: 'auth' }, h('div', { class: 'card auth-card' },
    h('div', { class: 'auth-brand' }, h('img', { src: document.querySelector('link[rel=icon]').href, alt: '', width: 36, height: 36 }), h('span', { text: 'restic-manager' })),
    h('h1', { text: title }), subtitle ? h('p', { class: 'muted', text: subtitle }) : null, form));
}

export function pageLogin(ctx) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'off', spellcheck: 'false' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('div', { class: 'form-msg', 'aria-live': 'assertive' });
  const btn = h('button', { type: 'submit', class: 'btn primary wide', text: 'Sign in' });
  const form = h('form', { novalidate: true }, field('Username', user), field('Password', pass), msg, btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    if (!user.value || !pass.value) { put(msg, errorBox(new Error('enter your username and password'), null)); return; }
    btn.disabled = true;
    try {
      const r = await api.post('/auth/login', { username: user.value, password: pass.value });
      await ctx.signedIn(r);
      const next = ctx.query.get('next');
      ctx.navigate(next && next.startsWith('#/') && !next.startsWith('#/login') ? next : '#/');
    } catch (e) {
      put(msg, h('div', { class: 'error', role: 'alert', text: e.status === 401 ? 'Wrong username or password.' : e.status === 429 ? 'Too many attempts — wait a minute and try again.' : e.message }));
      pass.select();
    } finally { btn.disabled = false; }
  });
  put(ctx.main, authCard('Sign in', 'Backups for your whole fleet, in one place.', form));
  user.focus();
  // A fresh server has no users yet: point at the setup link in the log.
  api.get('/bootstrap').then((r) => {
    if (r && r.bootstrapped === false) form.prepend(h('div', { class: 'notice', role: 'status', text: 'This server has no users yet. Open the one-time setup link printed in the server log (…/bootstrap?token=…) to create the first administrator.' }));
  }).catch(() => {});
}

export function pageBootstrap(ctx) {
  const token = ctx.query.get('token') || '';
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, value: 'admin', autocapitalize: 'off', spellcheck: 'false' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 12 });
  const pass2 = h('input', { name: 'password2', type: 'password', autocomplete: 'new-password', required: true });
  const msg = h('div', { class: 'form-msg', 'aria-live': 'assertive' });
  const btn = h('button', { type: 'submit', class: 'btn primary wide', text: 'Create administrator' });
  const form = h('form', { novalidate: true }, field('Administrator username', user),
    field('Password', pass, 'At least 12 characters; a long passphrase is best.'), field('Repeat password', pass2), msg, btn);
  const fail = (text) => { put(clear(msg), h('div', { class: 'error', role: 'alert', text })); };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!user.value) return fail('Choose a username.');
    if (pass.value.length < 12) return fail('The password needs at least 12 characters.');
    if (pass.value !== pass2.value) return fail('The two passwords differ.');
    btn.disabled = true;
    try {
      await api.post('/bootstrap', { token, username: user.value, password: pass.value });
      const r = await api.post('/auth/login', { username: user.value, password: pass.value });
      await ctx.signedIn(r);
      history.replaceState(null, '', '/#/');
      toast('Welcome! Your administrator account is ready.', 'ok');
      ctx.navigate('#/');
    } catch (e) {
      if (e.status === 409) fail('This server is already set up. Sign in instead.');
      else if (e.status === 401 || e.status === 403 || e.code === 'invalid_token') fail('This setup link is not valid (it works once). Check the server log for the current link.');
      else fail(e.message);
      btn.disabled = false;
    }
  });
  if (!token) {
    put(ctx.main, authCard('Set up restic-manager', null, h('div', null,
      h('div', { class: 'error', role: 'alert', text: 'This page needs the one-time setup link printed in the server log (…/bootstrap?token=…).' }),
      h('p', null, h('a', { href: '/#/login', text: 'Go to sign in' })))));
    return;
  }
  put(ctx.main, authCard('Set up restic-manager', 'Create the first administrator. This link works once.', form));
  pass.focus();
  api.get('/bootstrap').then((r) => {
    if (r && r.bootstrapped) form.prepend(h('div', { class: 'notice', role: 'status' }, 'This server is already set up. ', h('a', { href: '/#/login', text: 'Sign in instead' }), '.'));
  }).catch(() => {});
}

export async function pageAccount(ctx) {
  const u = ctx.session.user || {};
  const main = ctx.main;
  put(main, h('div', { class: 'page-head' }, h('h1', { text: 'Your account' })),
    h('p', { class: 'muted' }, 'Signed in as ', h('strong', { text: u.username || '?' }), ' with the ', h('strong', { text: u.role || '?' }), ' role.'));

  // --- password
  const cur = h('input', { type: 'password', autocomplete: 'current-password' });
  const nw = h('input', { type: 'password', autocomplete: 'new-password' });
  const nw2 = h('input', { type: 'password', autocomplete: 'new-password' });
  const pmsg = h('div', { 'aria-live': 'polite' });
  const pform = h('form', { class: 'card narrow' }, h('h2', { text: 'Change password' }),
    field('Current password', cur), field('New password', nw, 'At least 12 characters.'), field('Repeat new password', nw2), pmsg,
    h('button', { type: 'submit', class: 'btn primary', text: 'Change password' }));
  pform.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(pmsg);
    if (nw.value.length < 12) { put(pmsg, h('div', { class: 'error', text: 'The new password needs at least 12 characters.' })); return; }
    if (nw.value !== nw2.value) { put(pmsg, h('div', { class: 'error', text: 'The new passwords differ.' })); return; }
    try {
      await api.put('/auth/password', { current_password: cur.value, new_password: nw.value });
      cur.value = nw.value = nw2.value = '';
      toast('Password changed', 'ok');
    } catch (e) { put(pmsg, h('div', { class: 'error', role: 'alert', text: e.message })); }
  });

  // --- personal API tokens
  const tlist = h('div', null, loading());
  const tname = h('input', { placeholder: 'e.g. monitoring script', maxlength: 100 });
  const shown = h('div', { 'aria-live': 'polite' });
  const tform = h('form', { class: 'inline-form' }, field('Token name', tname), h('button', { type: 'submit', class: 'btn primary', text: 'Create token' }));
  tform.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!tname.value.trim()) { toast('Give the token a name', 'warn'); return; }
    try {
      const r = await api.post('/tokens', { name: tname.value.trim() });
      tname.value = '';
      const code = h('code', { class: 'secret', text: r.token });
      put(clear(shown), h('div', { class: 'notice ok' }, h('p', null, h('strong', { text: 'Copy your new token now — it is shown only once.' })),
        h('div', { class: 'copyline' }, code, h('button', { type: 'button', class: 'btn small', text: 'Copy', onclick: () => copyText(r.token, code) })),
        h('p', { class: 'muted', text: 'Use it as: Authorization: Bearer <token>' })));
      loadTokens();
    } catch (e) { toast(e.message, 'bad'); }
  });
  async function loadTokens() {
    try {
      const r = await api.get('/tokens');
      const items = (r && r.items) || [];
      clear(tlist);
      if (!items.length) { put(tlist, emptyState('No API tokens yet', 'Tokens let scripts use the API with your role.')); return; }
      const revoke = (t) => {
        const b = h('button', { type: 'button', class: 'btn small danger', text: 'Revoke', 'aria-label': `Revoke token ${t.name}` });
        b.addEventListener('click', async () => {
          if (!await confirmDialog({ title: 'Revoke token?', text: `Scripts using “${t.name}” stop working at once.`, ok: 'Revoke' })) return;
          try { await api.del('/tokens/' + encodeURIComponent(t.id)); toast('Token revoked', 'ok'); loadTokens(); } catch (e) { toast(e.message, 'bad'); }
        });
        return b;
      };
      const rows = items.map((t) => h('tr', null,
        h('td', { 'data-label': 'Name', text: t.name }),
        h('td', { 'data-label': 'Created', text: fmtTime(t.created_at) }),
        h('td', { 'data-label': 'Last used' }, t.last_used_at ? ageEl(t.last_used_at) : 'never'),
        h('td', { class: 'actions-cell' }, revoke(t))));
      put(tlist, h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('thead', null, h('tr', null, ['Name', 'Created', 'Last used', ''].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', null, rows))));
    } catch (e) { put(clear(tlist), errorBox(e, 'API tokens')); }
  }
  put(main, h('div', { class: 'grid2' }, pform, h('section', { class: 'card' }, h('h2', { text: 'Personal API tokens' }), tform, shown, tlist)));
  loadTokens();
}
