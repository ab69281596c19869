// host_repo.js — the host page's Repository tab: repository facts, health
// (last integrity check, locks with their holder), the maintenance cadences
// (GET/PUT /hosts/{id}/maintenance, editable by operators) and the
// init/check/unlock/prune buttons.  Every destructive action confirms.
import { api } from './api.js';
import { h, clear, field, badge, fmtBytes, fmtNumber, fmtTime, ageEl, ageSeconds, emptyState, errorBox, toast, confirmDialog, actionButton, put } from './ui.js';
import { hostName, repoSize, snapshotCount } from './hostfields.js';
import { startJob } from './pages_host.js';

const KINDS = [
  ['forget', 'Forget old snapshots', 'One forget per source group that has a retention policy.'],
  ['prune', 'Prune unreferenced data', 'Frees space after forgets; needs an exclusive lock.'],
  ['check', 'Check integrity', 'restic check, optionally reading part of the data.'],
  ['stats', 'Refresh repository size', 'restic stats; also queued once after the first successful backup.'],
];

function kv(rows) {
  return h('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v]) => [h('dt', { text: k }), h('dd', null, v === null || v === undefined || v === '' ? '—' : v)]));
}

/** Overall health: [status for badge(), label, reason]. */
export function repoHealth(check, locks, checkEveryHours) {
  // stale === false: the agent saw the holder's restic still alive when it reported the lock
  const stale = locks.filter((l) => l.held_by_this_host && !l.job_running && l.stale !== false);
  if (check && check.ok === false) return ['failed', 'check failed', 'The last integrity check reported errors.'];
  if (stale.length) return ['warning', 'stale lock', 'A lock is held by this host while none of its jobs runs.'];
  if (!check || !check.time) return ['warning', 'never checked', 'No integrity check has run yet.'];
  const age = ageSeconds(check.time);
  if (checkEveryHours && age !== null && age > 2 * checkEveryHours * 3600) return ['warning', 'check overdue', 'The last integrity check is older than twice its cadence.'];
  return ['succeeded', 'healthy', 'The last integrity check passed and no stale lock is held.'];
}

function lockState(l) {
  if (l.held_by_this_host && l.job_running) return badge('running', 'in use by a running job');
  if (l.held_by_this_host && l.stale === false) return badge('warning', 'held by a live restic outside the agent\'s jobs');
  if (l.held_by_this_host) return badge('warning', l.agent_online ? 'stale — no job is running' : 'stale? agent offline');
  return badge('none', 'another machine');
}

function locksTable(locks) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table locks' }, h('caption', { class: 'sr-only', text: 'Repository locks' }),
    h('thead', null, h('tr', null, ['Lock', 'Held by', 'PID', 'Since', 'State'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', null, locks.map((l) => h('tr', null,
      h('td', { 'data-label': 'Lock', text: l.exclusive ? 'exclusive' : 'shared' }),
      h('td', { 'data-label': 'Held by', class: 'mono', text: `${l.user || '?'}@${l.host || l.hostname || '?'}` }),
      h('td', { 'data-label': 'PID', class: 'num', text: l.pid ?? '—' }),
      h('td', { 'data-label': 'Since' }, l.time ? [fmtTime(l.time), ' (', ageEl(l.time), ')'] : '—'),
      h('td', { 'data-label': 'State' }, lockState(l)))))));
}

function maintenanceForm(ctx, host, m, reload) {
  const op = ctx.can('operator');
  const rows = [];
  const inputs = {};
  for (const [k, label, hint] of KINDS) {
    const s = m[k] || {};
    const en = h('input', { type: 'checkbox', checked: s.enabled !== false, disabled: !op });
    const every = h('input', { type: 'number', min: 1, max: 8760, step: 1, inputmode: 'numeric', value: s.every_hours ?? '', disabled: !op, required: true });
    inputs[k] = { en, every };
    const extra = [];
    if (k === 'check') {
      inputs.subset = h('input', { value: s.read_data_subset || '', placeholder: 'e.g. 5% or 1/10', spellcheck: 'false', disabled: !op, maxlength: 16 });
      extra.push(field('Read data subset (empty = metadata only)', inputs.subset));
    }
    rows.push(h('fieldset', { class: 'maint-kind' }, h('legend', { text: label }),
      h('p', { class: 'hint', text: hint }),
      h('div', { class: 'maint-grid' },
        h('label', { class: 'check' }, en, ` ${label}: automatically`),
        field(`${label}: every (hours)`, every),
        ...extra,
        h('div', { class: 'muted small' }, 'Last queued: ', s.last_queued ? ageEl(s.last_queued) : 'never', h('br'), 'Next due: ', s.next_due ? fmtTime(s.next_due) : s.enabled === false ? 'disabled' : 'at the next timer tick'))));
  }
  const priv = h('input', { type: 'password', autocomplete: 'new-password', disabled: !op, placeholder: m.privileged_credential ? 'stored — type to replace' : 'not set' });
  const privClear = h('input', { type: 'checkbox', disabled: !op });
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'maint-form', novalidate: true }, h('h3', { text: 'Maintenance schedule' }),
    h('p', { class: 'muted small', text: 'The server queues these jobs for the host when they are due (offline hosts get them when they return).' }),
    rows,
    h('fieldset', { class: 'maint-kind' }, h('legend', { text: 'Privileged credential' }),
      field('Privileged repository password (prune on append-only repositories)', priv, m.privileged_credential ? 'A password is stored (sealed); it reaches the agent only inside prune jobs.' : 'Only needed when the host’s own credentials cannot delete data.'),
      m.privileged_credential ? h('label', { class: 'check' }, privClear, ' Remove the stored privileged password') : null),
    msg,
    op ? h('button', { type: 'submit', class: 'btn primary', text: 'Save maintenance settings' }) : h('p', { class: 'muted', text: 'You need the operator role to change the maintenance schedule.' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    const body = {};
    for (const [k, label] of KINDS) {
      const n = Number(inputs[k].every.value);
      if (!Number.isInteger(n) || n < 1 || n > 8760) { put(msg, h('div', { class: 'error', role: 'alert', text: `${label}: the interval must be a whole number of hours from 1 to 8760.` })); inputs[k].every.focus(); return; }
      body[k] = { enabled: inputs[k].en.checked, every_hours: n };
    }
    body.check.read_data_subset = inputs.subset.value.trim() || null;
    if (priv.value) body.privileged_password = priv.value;
    else if (privClear.checked) {
      if (!await confirmDialog({ title: 'Remove the privileged password?', text: 'Prune jobs on an append-only repository will fail until a new one is stored.', ok: 'Remove password' })) return;
      body.privileged_password = null;
    }
    try {
      await api.put(`/hosts/${host.id}/maintenance`, body);
      toast('Maintenance settings saved', 'ok');
      reload();
    } catch (e) { put(msg, h('div', { class: 'error', role: 'alert', text: e.message })); }
  });
  return form;
}

const dirtyForms = new WeakMap(); // tab body → maintenance form with unsaved edits

export async function tabRepo(ctx, host, body) {
  const repo = host.repository || host.repo || {};
  const rs = host.repo_stats || {};
  let m = null, merr = null;
  try { m = await api.get(`/hosts/${host.id}/maintenance`); } catch (e) { merr = e; }
  if (ctx.stale()) return;
  const check = (m && m.last_check) || rs.check || null;
  const locks = (m && Array.isArray(m.locks) ? m.locks : Array.isArray(rs.locks) ? rs.locks : []);
  const [hs, hlabel, hwhy] = repoHealth(check, locks, m && m.check && m.check.enabled !== false ? m.check.every_hours : 0);
  const reload = () => tabRepo(ctx, host, body).catch((e) => put(clear(body), errorBox(e)));

  put(clear(body), h('div', { class: 'section-head' }, h('h2', { text: 'Repository' }), h('span', { class: 'repo-health' }, badge(hs, hlabel))),
    h('p', { class: 'muted small', text: hwhy }),
    kv([
      ['URL', repo.url ? h('code', { text: repo.url }) : null],
      ['Size', fmtBytes(repoSize(host))],
      ['Raw data', rs.raw_size !== undefined ? fmtBytes(rs.raw_size) : null],
      ['Snapshots', fmtNumber(snapshotCount(host))],
      ['Files', rs.total_file_count !== undefined ? fmtNumber(rs.total_file_count) : null],
      ['Last check', check && check.time ? [badge(check.ok ? 'succeeded' : 'failed', check.ok ? 'passed' : 'failed'), ' ', ageEl(check.time), check.message ? h('div', { class: 'muted small', text: check.message }) : null] : 'never'],
    ]));

  put(body, h('h3', { text: 'Locks' }));
  if (!locks.length) put(body, emptyState('No locks', 'The repository is not locked; every job can run.'));
  else put(body, locksTable(locks));

  const op = ctx.can('operator');
  if (op && locks.length) {
    put(body, h('div', { class: 'button-row' },
      actionButton('Remove stale locks', async () => {
        if (!await confirmDialog({ title: 'Remove stale locks?', text: 'restic removes only locks it considers stale (their process is gone). Locks of running jobs stay.', ok: 'Remove stale locks' })) return;
        await startJob(ctx, host.id, { kind: 'unlock' }, 'Unlock');
      }, 'btn'),
      actionButton('Remove all locks…', async () => {
        if (!await confirmDialog({ title: 'Remove ALL locks?', text: 'Also removes locks of jobs that may still be running on any machine using this repository; that can corrupt it. Do this only when you are sure nothing runs.', ok: 'Remove all locks', typed: hostName(host) })) return;
        await startJob(ctx, host.id, { kind: 'unlock', remove_all: true }, 'Unlock');
      }, 'btn danger')));
  }

  // A live refresh (a job of this host finished) must not throw away
  // maintenance edits the user has not saved yet: keep a changed form.
  const prev = dirtyForms.get(body);
  if (prev && prev.isConnected === false && prev.dataset.dirty === '1') put(body, prev);
  else if (m) {
    const form = maintenanceForm(ctx, host, m, () => { dirtyForms.delete(body); reload(); });
    form.addEventListener('input', () => { form.dataset.dirty = '1'; dirtyForms.set(body, form); });
    put(body, form);
  } else put(body, errorBox(merr, 'the maintenance schedule'));

  if (!op) return;
  const run = (kind, label, confirm, cls = 'btn') => actionButton(label, async () => {
    if (confirm && !await confirmDialog(confirm)) return;
    await startJob(ctx, host.id, { kind }, label);
  }, cls);
  put(body, h('h3', { text: 'Run now' }), h('div', { class: 'button-row' },
    run('check', 'Check integrity'),
    run('stats', 'Refresh statistics'),
    run('snapshots', 'Refresh snapshot list'),
    run('init', 'Initialise repository', { title: 'Initialise the repository?', text: 'Only needed once, for a new and empty repository; restic refuses to initialise an existing one.', ok: 'Initialise', danger: false }),
    run('unlock', 'Unlock', { title: 'Remove stale locks?', text: 'Only locks that restic considers stale are removed.', ok: 'Unlock' }),
    run('prune', 'Prune', { title: 'Prune the repository?', text: 'Deletes data no snapshot references any more. This can take long, locks the repository exclusively and cannot be undone.', ok: 'Prune' }, 'btn danger')));
}
