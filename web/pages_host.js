// pages_host.js — one host: header, vitals and tabs (Snapshots, Sources,
// Schedules, Repo, Jobs, Settings; Sources and Schedules live in
// host_config.js, Repo in host_repo.js).  Write actions are shown to
// operators (admins for delete) only; the API enforces the same rules.
import { api, listAll, qs } from './api.js';
import { h, clear, field, keepFocus, badge, fmtBytes, fmtNumber, fmtTime, fmtDuration, ageEl, emptyState, errorBox, loading, toast, confirmDialog, tabs, actionButton, toDate, put } from './ui.js';
import { hostName, hostStatus, hostOs, lastBackup, repoSize, snapshotCount, hostTags, lastSeen } from './hostfields.js';
import { fleetStream } from './pages_dash.js';
import { tabRepo } from './host_repo.js';
import { tabSources, tabSchedules } from './host_config.js';
import { barChart } from './charts.js';

const TABS = [['snapshots', 'Snapshots'], ['sources', 'Sources'], ['schedules', 'Schedules'], ['repo', 'Repository'], ['jobs', 'Jobs'], ['settings', 'Settings']];

export async function startJob(ctx, hostId, body, label) {
  const j = await api.post(`/hosts/${hostId}/jobs`, body);
  toast(`${label || body.kind} queued`, 'ok');
  if (j && j.id) ctx.navigate(`#/jobs/${j.id}`);
  return j;
}

function kv(rows) {
  return h('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v]) => [h('dt', { text: k }), h('dd', null, v === null || v === undefined || v === '' ? '—' : v)]));
}

export async function pageHost(ctx) {
  const id = ctx.params.id;
  const tab = TABS.some(([k]) => k === ctx.params.tab) ? ctx.params.tab : 'snapshots';
  const main = ctx.main;
  let host;
  try {
    host = await api.get(`/hosts/${encodeURIComponent(id)}`);
  } catch (e) {
    put(main, h('p', null, h('a', { href: '#/', text: '← Dashboard' })), errorBox(e, 'this host'));
    return;
  }
  if (ctx.stale()) return;
  const head = h('div');
  const drawHead = () => {
    const lb = lastBackup(host);
    put(clear(head), 
      h('p', { class: 'crumbs' }, h('a', { href: '#/', text: 'Dashboard' }), ' / ', h('span', { text: hostName(host) })),
      h('div', { class: 'page-head' }, h('h1', { class: 'host-title', text: hostName(host) }), badge(hostStatus(host)),
        ctx.can('operator') ? h('div', { class: 'head-actions' },
          actionButton('Back up now', () => startJob(ctx, id, { kind: 'backup', group: 'default' }, 'Backup'), 'btn primary'),
          h('a', { class: 'btn', href: `#/hosts/${id}/restore`, text: 'Restore…' })) : null),
      h('div', { class: 'card vitals' }, kv([
        ['OS / arch', hostOs(host)],
        ['Agent', host.agent_version || host.version || null],
        ['restic', host.restic_version || null],
        ['Last seen', lastSeen(host) ? ageEl(lastSeen(host)) : 'never'],
        ['Last backup', lb.time || lb.status ? [lb.status ? badge(lb.status) : null, ' ', ageEl(lb.time)] : 'never'],
        ['Repository size', fmtBytes(repoSize(host))],
        ['Snapshots', fmtNumber(snapshotCount(host))],
        ['Tags', hostTags(host).length ? hostTags(host).map((t) => h('span', { class: 'tag', text: t })) : null],
      ])));
  };
  drawHead();
  const body = h('section', { class: 'card tab-body', 'aria-label': 'Tab content' }, loading());
  put(main, head, tabs(TABS, tab, (k) => `#/hosts/${id}/${k}`), body);
  const fn = { snapshots: tabSnapshots, sources: tabSources, schedules: tabSchedules, repo: tabRepo, jobs: tabJobs, settings: tabSettings }[tab];
  try { await fn(ctx, host, body); } catch (e) { put(clear(body), errorBox(e)); }
  // Live: the header follows every event about this host; the read-only tabs
  // (snapshots, repository, jobs) reload when one of its jobs changes state.
  let tabDirty = false;
  const FINAL = ['succeeded', 'warning', 'failed', 'cancelled'];
  const stop = fleetStream(async () => {
    try { host = await api.get(`/hosts/${encodeURIComponent(id)}`); if (!ctx.stale()) drawHead(); } catch { /* keep the old view */ }
    if (tabDirty && !ctx.stale() && ['snapshots', 'repo', 'jobs'].includes(tab)) {
      tabDirty = false;
      // A live redraw keeps the keyboard focus on the same logical control.
      await keepFocus(body, async () => { try { await fn(ctx, host, body); } catch (e) { put(clear(body), errorBox(e)); } });
    }
  }, (type, data) => {
    if (type === 'job' && data && String(data.host_id) === String(id) && (tab === 'jobs' || FINAL.includes(data.status))) tabDirty = true;
  });
  return stop;
}

async function tabSnapshots(ctx, host, body) {
  let items;
  try { items = await listAll(`/hosts/${host.id}/snapshots`); } catch (e) { put(clear(body), errorBox(e, 'snapshots')); return; }
  clear(body);
  if (!items.length) {
    put(body, emptyState('No snapshots yet', 'Run a backup to create the first snapshot.',
      ctx.can('operator') ? actionButton('Back up now', () => startJob(ctx, host.id, { kind: 'backup', group: 'default' }, 'Backup'), 'btn primary') : null));
    return;
  }
  items.sort((a, b) => (toDate(b.time) || 0) - (toDate(a.time) || 0));
  const picked = new Set();
  const diffBtn = h('button', { type: 'button', class: 'btn', text: 'Compare 2 selected', disabled: true });
  diffBtn.addEventListener('click', async () => {
    // Older first, so the diff reads as "what changed since then".
    const when = (sid) => toDate((items.find((s) => (s.id || s.short_id) === sid) || {}).time) || 0;
    const [a, b] = [...picked].sort((x, y) => when(x) - when(y));
    try { await startJob(ctx, host.id, { kind: 'diff', snapshots: [a, b] }, 'Diff'); } catch (e) { toast(e.message, 'bad'); }
  });
  const op = ctx.can('operator');
  put(body, h('div', { class: 'section-head' }, h('h2', { text: `${items.length} snapshot${items.length === 1 ? '' : 's'}` }), op ? diffBtn : null),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, h('caption', { class: 'sr-only', text: 'Snapshots' }),
      h('thead', null, h('tr', null, op ? h('th', { scope: 'col' }, h('span', { class: 'sr-only', text: 'Select' })) : null,
        ['Time', 'ID', 'Paths', 'Tags', 'Size'].map((t) => h('th', { scope: 'col', class: t === 'Size' ? 'num hide-sm' : t === 'Tags' ? 'hide-sm' : undefined, text: t })), op ? h('th', { scope: 'col', text: 'Actions' }) : null)),
      h('tbody', null, items.map((s) => {
        const sid = s.id || s.short_id;
        const cb = h('input', { type: 'checkbox', 'aria-label': `Select snapshot ${s.short_id || sid} for comparison` });
        cb.addEventListener('change', () => {
          if (cb.checked) picked.add(sid); else picked.delete(sid);
          diffBtn.disabled = picked.size !== 2;
        });
        return h('tr', { 'data-key': `snap-${sid}` }, op ? h('td', null, cb) : null,
          h('td', { 'data-label': 'Time', text: fmtTime(s.time) }),
          h('td', { 'data-label': 'ID' }, h('code', { text: s.short_id || String(sid).slice(0, 8) })),
          h('td', { 'data-label': 'Paths', class: 'paths' }, (s.paths || []).map((p) => h('div', { text: p }))),
          h('td', { 'data-label': 'Tags', class: 'hide-sm' }, (s.tags || []).map((t) => h('span', { class: 'tag', text: t }))),
          h('td', { 'data-label': 'Size', class: 'num hide-sm', text: fmtBytes(s.size ?? (s.summary && s.summary.total_bytes_processed)) }),
          op ? h('td', { class: 'actions-cell' }, h('a', { class: 'btn small', href: `#/hosts/${host.id}/restore?snapshot=${encodeURIComponent(sid)}`, text: 'Restore…', 'aria-label': `Restore from snapshot ${s.short_id || sid}` })) : null);
      })))));
}

export function jobDuration(j) {
  if (j.duration !== undefined && j.duration !== null) return j.duration;
  const a = toDate(j.started_at), b = toDate(j.finished_at);
  return a && b ? (b - a) / 1000 : null;
}

export function jobsTable(jobs, withHost) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, h('caption', { class: 'sr-only', text: 'Jobs' }),
    h('thead', null, h('tr', null, ['Job', withHost ? 'Host' : null, 'Kind', 'Status', 'Started', 'Duration', 'By'].filter(Boolean).map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', null, jobs.map((j) => h('tr', { 'data-key': `job-${j.id}` },
      h('td', { 'data-label': 'Job' }, h('a', { href: `#/jobs/${j.id}`, class: 'mono', text: String(j.id).slice(0, 8) })),
      withHost ? h('td', { 'data-label': 'Host' }, h('a', { href: `#/hosts/${j.host_id}`, text: j.host_name || j.hostname || `host ${j.host_id}` })) : null,
      h('td', { 'data-label': 'Kind', text: j.kind }),
      h('td', { 'data-label': 'Status' }, badge(j.status)),
      h('td', { 'data-label': 'Started' }, j.started_at ? ageEl(j.started_at) : j.created_at ? ageEl(j.created_at) : '—'),
      h('td', { 'data-label': 'Duration', text: fmtDuration(jobDuration(j)) }),
      h('td', { 'data-label': 'By', text: j.actor_name || j.actor || '—' }))))));
}

async function tabJobs(ctx, host, body) {
  let jobs;
  try { jobs = await listAll(`/jobs${qs({ host: host.id, limit: 100 })}`, 200); } catch (e) { put(clear(body), errorBox(e, 'jobs')); return; }
  put(clear(body), h('h2', { text: 'Jobs' }));
  if (!jobs.length) { put(body, emptyState('No jobs yet')); return; }
  const backups = jobs.filter((j) => j.kind === 'backup' && j.status !== 'queued' && j.status !== 'running').slice(0, 30).reverse();
  const chart = (title, value, fmt, binary) => barChart({ title, items: backups, value, fmt, binary, time: (j) => j.started_at || j.created_at, status: (j) => j.status });
  if (backups.length) put(body, h('div', { class: 'grid2 charts' },
    chart('Backup duration', jobDuration, fmtDuration),
    chart('Data added', (j) => (j.summary ? j.summary.data_added ?? j.summary.data_added_packed ?? null : null), fmtBytes, true)));
  put(body, jobsTable(jobs, false));
}

// ---- Settings: display name, tags, bandwidth limits; delete (admins) -------
// PATCH /api/v1/hosts/{id} sends only what changed.  Tags follow the API's
// rules (1–128 bytes, no commas, no duplicates) so mistakes show before saving.
const TAG_MAX = 128, TAGS_MAX = 32, LIMIT_MAX = 10 * 1024 * 1024;

function withHint(wrapper, el) {
  wrapper.append(h('div', { class: 'hint', 'aria-live': 'polite' }, el));
  return wrapper;
}

function limitText(kib) {
  return kib > 0 ? `${fmtNumber(kib)} KiB/s (${fmtBytes(kib * 1024)}/s)` : 'unlimited';
}

async function tabSettings(ctx, host, body) {
  const canEdit = ctx.can('operator');
  const up0 = host.limit_upload_kib || 0, down0 = host.limit_download_kib || 0;
  put(clear(body), h('h2', { text: 'Settings' }));
  if (!canEdit) {
    put(body, kv([
      ['Name', hostName(host)],
      ['Tags', hostTags(host).length ? hostTags(host).map((t) => h('span', { class: 'tag', text: t })) : 'none'],
      ['Upload limit', limitText(up0)],
      ['Download limit', limitText(down0)],
    ]), h('p', { class: 'muted small', text: 'Operators can change these settings.' }));
    return;
  }
  let tags = hostTags(host).slice();
  const chips = h('div', { class: 'tag-editor', role: 'list', 'aria-label': 'Tags' });
  const drawChips = () => {
    put(clear(chips), tags.length ? tags.map((t) => h('span', { class: 'tag tag-chip', role: 'listitem' }, t,
      h('button', { type: 'button', class: 'tag-remove', 'aria-label': `Remove tag ${t}`, text: '×', onclick: () => { tags = tags.filter((x) => x !== t); drawChips(); } })))
      : h('span', { class: 'muted small', text: 'No tags' }));
  };
  drawChips();
  const tagIn = h('input', { spellcheck: 'false', autocomplete: 'off', placeholder: 'e.g. prod' });
  const tagMsg = h('div', { class: 'hint', 'aria-live': 'polite' });
  const addTags = () => {
    const parts = tagIn.value.split(',').map((x) => x.trim()).filter(Boolean);
    for (const t of parts) {
      if (new TextEncoder().encode(t).length > TAG_MAX) { tagMsg.textContent = `“${t}” is longer than ${TAG_MAX} bytes.`; return false; }
      if (tags.length >= TAGS_MAX) { tagMsg.textContent = `At most ${TAGS_MAX} tags.`; return false; }
      if (!tags.includes(t)) tags.push(t);
    }
    tagIn.value = '';
    tagMsg.textContent = '';
    drawChips();
    return true;
  };
  tagIn.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ',') { ev.preventDefault(); addTags(); } });
  const addBtn = h('button', { type: 'button', class: 'btn small', text: 'Add tag', onclick: addTags });
  const name = h('input', { value: hostName(host), maxlength: 253, spellcheck: 'false', autocomplete: 'off', required: true });
  const num = (v) => h('input', { type: 'number', min: 0, max: LIMIT_MAX, step: 1, inputmode: 'numeric', value: v > 0 ? String(v) : '', placeholder: 'unlimited' });
  const up = num(up0), down = num(down0);
  const upHint = h('span'), downHint = h('span');
  const hint = (el, out) => { const v = Number(el.value || 0); out.textContent = el.value === '' || v === 0 ? 'Unlimited.' : Number.isInteger(v) && v > 0 ? `≈ ${fmtBytes(v * 1024)}/s` : ''; };
  up.addEventListener('input', () => hint(up, upHint));
  down.addEventListener('input', () => hint(down, downHint));
  hint(up, upHint); hint(down, downHint);
  const msg = h('div', { 'aria-live': 'assertive' });
  const save = h('button', { type: 'submit', class: 'btn primary', text: 'Save settings' });
  const tagField = field('Add tags (Enter or comma adds)', tagIn, 'Tags group hosts on the dashboard (filter by tag). At most 128 bytes each, no commas.');
  tagField.append(h('div', { class: 'button-row' }, addBtn), tagMsg);
  const form = h('form', { class: 'narrow settings-form', novalidate: true },
    field('Display name', name),
    h('fieldset', null, h('legend', { text: 'Tags' }), chips, tagField),
    h('fieldset', null, h('legend', { text: 'Bandwidth limits' }),
      h('p', { class: 'muted small', text: 'Passed to restic as --limit-upload / --limit-download for every job, scheduled ones included (also while the server is unreachable). Empty or 0 = unlimited.' }),
      h('div', { class: 'grid2' }, withHint(field('Upload limit (KiB/s)', up), upHint), withHint(field('Download limit (KiB/s)', down), downHint))),
    msg, save);
  form.addEventListener('input', () => clear(msg));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    if (tagIn.value.trim() && !addTags()) return;
    const change = {};
    const nm = name.value.trim();
    if (!nm) { put(msg, h('div', { class: 'error', role: 'alert', text: 'The display name cannot be empty.' })); return; }
    if (nm !== hostName(host)) change.name = nm;
    if (JSON.stringify(tags) !== JSON.stringify(hostTags(host))) change.tags = tags;
    for (const [k, el, old, label] of [['limit_upload_kib', up, up0, 'Upload limit'], ['limit_download_kib', down, down0, 'Download limit']]) {
      const v = el.value === '' ? 0 : Number(el.value);
      if (!Number.isInteger(v) || v < 0 || v > LIMIT_MAX) { put(msg, h('div', { class: 'error', role: 'alert', text: `${label}: a whole number of KiB/s from 0 to ${fmtNumber(LIMIT_MAX)}.` })); return; }
      if (v !== old) change[k] = v;
    }
    if (!Object.keys(change).length) { toast('Nothing changed'); return; }
    save.disabled = true;
    try {
      const updated = await api.patch(`/hosts/${host.id}`, change);
      Object.assign(host, updated || change);
      toast('Settings saved', 'ok');
      tabSettings(ctx, host, body);
    } catch (e) {
      put(msg, h('div', { class: 'error', role: 'alert', text: e.message }));
    } finally { save.disabled = false; }
  });
  put(body, form);
  if (ctx.can('admin')) {
    put(body, h('div', { class: 'danger-zone' }, h('h3', { text: 'Delete host' }),
      h('p', { text: 'Removes the host from this server and revokes its agent credentials. Its job history stays; the repository and its snapshots are not touched.' }),
      actionButton('Delete host…', async () => {
        if (!await confirmDialog({ title: `Delete ${hostName(host)}?`, text: 'The agent on that machine will no longer be accepted.', ok: 'Delete host', typed: hostName(host) })) return;
        await api.del(`/hosts/${host.id}`);
        toast('Host deleted', 'ok');
        ctx.navigate('#/');
      }, 'btn danger')));
  }
}
