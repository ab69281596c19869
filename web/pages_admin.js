// pages_admin.js — the audit trail (filters, paging, CSV export) and user
// management (admins only; the API enforces it too).
import { api, qs } from './api.js';
import { h, clear, field, focusKey, restoreFocus, badge, fmtTime, ageEl, emptyState, errorBox, loading, toast, confirmDialog, put } from './ui.js';

export async function pageAudit(ctx) {
  const main = ctx.main;
  const f = {
    actor: h('input', { value: ctx.query.get('actor') || '', spellcheck: 'false' }),
    action: h('input', { value: ctx.query.get('action') || '', placeholder: 'e.g. auth. or host.delete', spellcheck: 'false' }),
    target: h('input', { value: ctx.query.get('target') || '', spellcheck: 'false' }),
    outcome: h('select', null, [['', 'Any outcome'], ['ok', 'ok'], ['denied', 'denied'], ['failed', 'failed']].map(([v, t]) => h('option', { value: v, text: t }))),
    since: h('input', { type: 'date' }),
    until: h('input', { type: 'date' }),
  };
  const box = h('div', null, loading());
  const pager = h('div', { class: 'pager' });
  const csv = h('a', { class: 'btn', text: 'Export CSV', download: 'audit.csv' });
  const form = h('form', { class: 'filters' }, field('Actor', f.actor), field('Action (prefix)', f.action), field('Target', f.target),
    field('Outcome', f.outcome), field('From', f.since), field('Until (exclusive)', f.until),
    h('div', { class: 'field end' }, h('button', { type: 'submit', class: 'btn primary', text: 'Apply' })));
  put(main, h('div', { class: 'page-head' }, h('h1', { text: 'Audit trail' }), h('div', { class: 'head-actions' }, csv)),
    h('p', { class: 'muted', text: 'Every state change, newest first. The trail is append-only and hash-chained.' }),
    h('section', { class: 'card' }, form, box, pager));
  const cursors = [null];
  let page = 0;
  const params = () => ({
    actor: f.actor.value.trim(), action: f.action.value.trim(), target: f.target.value.trim(), outcome: f.outcome.value,
    since: f.since.value ? new Date(f.since.value + 'T00:00:00').toISOString().replace(/\.\d+Z$/, 'Z') : '',
    until: f.until.value ? new Date(f.until.value + 'T00:00:00').toISOString().replace(/\.\d+Z$/, 'Z') : '',
  });
  async function load() {
    const p = params();
    csv.href = '/api/v1/audit/export.csv' + qs(p);
    put(clear(box), loading());
    try {
      const r = await api.get('/audit' + qs({ ...p, limit: 50, cursor: cursors[page] }));
      const items = (r && r.items) || [];
      cursors[page + 1] = r && r.next ? r.next : undefined;
      clear(box);
      if (!items.length) put(box, emptyState(page ? 'No more records' : 'No audit records match'));
      else put(box, h('div', { class: 'table-wrap' }, h('table', { class: 'table audit' }, h('caption', { class: 'sr-only', text: 'Audit records' }),
        h('thead', null, h('tr', null, ['Time', 'Actor', 'Action', 'Target', 'Outcome', 'Client', 'Details'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', null, items.map((a) => h('tr', { 'data-seq': a.seq },
          h('td', { 'data-label': 'Time', title: a.time, text: fmtTime(a.time) }),
          h('td', { 'data-label': 'Actor', text: a.actor }),
          h('td', { 'data-label': 'Action' }, h('code', { text: a.action })),
          h('td', { 'data-label': 'Target', text: a.target ?? '—' }),
          h('td', { 'data-label': 'Outcome' }, badge(a.outcome === 'ok' ? 'succeeded' : a.outcome === 'denied' ? 'warning' : 'failed', a.outcome)),
          h('td', { 'data-label': 'Client', class: 'mono small', text: a.client ?? '—' }),
          h('td', { 'data-label': 'Details', class: 'mono small details', text: a.details && Object.keys(a.details).length ? JSON.stringify(a.details) : '' })))))));
    } catch (e) { put(clear(box), errorBox(e, 'the audit trail')); }
    const prev = h('button', { type: 'button', class: 'btn', text: '← Newer', disabled: page === 0 });
    const next = h('button', { type: 'button', class: 'btn', text: 'Older →', disabled: !cursors[page + 1] });
    prev.addEventListener('click', () => { page--; load(); });
    next.addEventListener('click', () => { page++; load(); });
    put(clear(pager), prev, h('span', { class: 'muted', text: `Page ${page + 1}` }), next);
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); cursors.length = 1; page = 0; load(); });
  await load();
}

export async function pageUsers(ctx) {
  const main = ctx.main;
  const box = h('div', null, loading());
  const uname = h('input', { required: true, autocapitalize: 'off', spellcheck: 'false', autocomplete: 'off' });
  const pass = h('input', { type: 'password', required: true, autocomplete: 'new-password' });
  const role = h('select', null, ['viewer', 'operator', 'admin'].map((r) => h('option', { value: r, text: r })));
  const form = h('form', { class: 'card' }, h('h2', { text: 'Add a user' }), h('div', { class: 'grid3' }, field('Username', uname), field('Initial password', pass, 'At least 12 characters.'), field('Role', role)),
    h('button', { type: 'submit', class: 'btn primary', text: 'Add user' }));
  put(main, h('div', { class: 'page-head' }, h('h1', { text: 'Users' })),
    h('p', { class: 'muted', text: 'Viewers can look; operators can run jobs, restore and enrol hosts; admins also manage users, notifications and host deletion.' }),
    h('section', { class: 'card' }, box), form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!uname.value.trim() || pass.value.length < 12) { toast('Enter a username and a password of at least 12 characters', 'warn'); return; }
    try {
      await api.post('/users', { username: uname.value.trim(), password: pass.value, role: role.value });
      toast(`User ${uname.value.trim()} added`, 'ok');
      uname.value = pass.value = '';
      load();
    } catch (e) { toast(e.message, 'bad'); }
  });
  async function load() {
    // Each change redraws the table: keep the keyboard focus on the same control.
    const focus = focusKey(box);
    try {
      const r = await api.get('/users');
      const items = (r && r.items) || [];
      clear(box);
      if (!items.length) { put(box, emptyState('No users')); return; }
      put(box, h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, h('caption', { class: 'sr-only', text: 'Users' }),
        h('thead', null, h('tr', null, ['User', 'Role', 'Created', 'Last login', 'Actions'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', null, items.map((u) => {
          const self = ctx.session.user && (u.id === ctx.session.user.id || u.username === ctx.session.user.username);
          const sel = h('select', { 'aria-label': `Role of ${u.username}`, disabled: self }, ['viewer', 'operator', 'admin'].map((r2) => h('option', { value: r2, text: r2, selected: r2 === u.role })));
          sel.addEventListener('change', async () => {
            if (!await confirmDialog({ title: `Change role of ${u.username}?`, text: `${u.role} → ${sel.value}`, ok: 'Change role', danger: false })) { sel.value = u.role; return; }
            try { await api.patch(`/users/${u.id}`, { role: sel.value }); toast('Role changed', 'ok'); load(); } catch (e) { toast(e.message, 'bad'); sel.value = u.role; }
          });
          const del = h('button', { type: 'button', class: 'btn small danger', text: 'Delete', disabled: self, 'aria-label': `Delete user ${u.username}` });
          del.addEventListener('click', async () => {
            if (!await confirmDialog({ title: `Delete ${u.username}?`, text: 'Their sessions and API tokens stop working at once.', ok: 'Delete user', typed: u.username })) return;
            try { await api.del(`/users/${u.id}`); toast('User deleted', 'ok'); load(); } catch (e) { toast(e.message, 'bad'); }
          });
          const toggle = h('button', { type: 'button', class: 'btn small', 'data-key': 'toggle', text: u.disabled ? 'Enable' : 'Disable', disabled: self, 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} user ${u.username}` });
          toggle.addEventListener('click', async () => {
            if (!u.disabled && !await confirmDialog({ title: `Disable ${u.username}?`, text: 'Their sessions end and their API tokens are revoked (enabling again does not bring the tokens back).', ok: 'Disable user' })) return;
            try { await api.patch(`/users/${u.id}`, { disabled: !u.disabled }); toast(u.disabled ? 'User enabled' : 'User disabled', 'ok'); load(); } catch (e) { toast(e.message, 'bad'); }
          });
          const reset = h('button', { type: 'button', class: 'btn small', text: 'Reset password', disabled: self, 'aria-label': `Reset the password of ${u.username}` });
          reset.addEventListener('click', async () => {
            const opts = { title: `Reset the password of ${u.username}?`, text: 'Their sessions end at once; tell them the new password over a safe channel.', ok: 'Set password', input: { label: 'New password', type: 'password', minLength: 12, hint: 'At least 12 characters.' } };
            if (!await confirmDialog(opts)) return;
            try { await api.patch(`/users/${u.id}`, { password: opts.value }); toast(`Password of ${u.username} reset`, 'ok'); load(); } catch (e) { toast(e.message, 'bad'); }
          });
          return h('tr', { 'data-key': `user-${u.id}` }, h('td', { 'data-label': 'User' }, h('strong', { text: u.username }), self ? h('span', { class: 'muted', text: ' (you)' }) : null, u.disabled ? [' ', badge('none', 'disabled')] : null),
            h('td', { 'data-label': 'Role' }, sel), h('td', { 'data-label': 'Created', text: fmtTime(u.created_at) }),
            h('td', { 'data-label': 'Last login' }, u.last_login_at ? ageEl(u.last_login_at) : 'never'), h('td', { class: 'actions-cell' }, reset, ' ', toggle, ' ', del));
        })))));
    } catch (e) { put(clear(box), errorBox(e, 'users')); }
    restoreFocus(box, focus);
  }
  await load();
}
