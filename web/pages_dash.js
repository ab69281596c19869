// pages_dash.js — the dashboard (fleet strip, host table with live updates,
// 30-day backup calendar) and the add-host page (enrolment token + install
// commands, new host appears live).
import { api, listAll, stream, qs } from './api.js';
import { h, clear, field, badge, fmtBytes, fmtNumber, ageEl, emptyState, errorBox, loading, toast, sortableTable, sortRows, copyText, toDate, put } from './ui.js';
import { hostName, hostStatus, hostOs, lastBackup, repoSize, snapshotCount, hostTags, hasProblem, freshness } from './hostfields.js';
import { alertBadge } from './pages_alerts.js';

const FLEET_EVENTS = ['host', 'host.updated', 'host.created', 'host.enrolled', 'host.deleted', 'host.online', 'host.offline',
  'job', 'job.created', 'job.queued', 'job.started', 'job.updated', 'job.finished', 'job.progress', 'snapshots', 'repo.stats', 'fleet', 'alert', 'reset'];

/** Subscribe to the fleet stream; calls onChange (debounced) on any event. */
export function fleetStream(onChange, onEvent, onState) {
  let timer = null;
  const fire = () => { timer = null; onChange(); };
  const s = stream('/events', {
    '*': (type, data) => {
      if (onEvent) onEvent(type, data);
      if (!timer) timer = setTimeout(fire, 300);
    },
    extraEvents: FLEET_EVENTS,
    onopen: () => { if (onState) onState(true); },
    onerror: () => { if (onState) onState(false); },
  });
  return () => { if (timer) clearTimeout(timer); s.close(); };
}

function statTile(label, value, cls, sub) {
  return h('div', { class: ['stat', cls] }, h('div', { class: 'stat-value', text: value }), h('div', { class: 'stat-label', text: label }), sub ? h('div', { class: 'stat-sub', text: sub }) : null);
}

function fleetStrip(summary, hosts, jobs) {
  const s = summary || {};
  const pick = (...keys) => { for (const k of keys) { const v = k.split('.').reduce((o, p) => (o == null ? undefined : o[p]), s); if (v !== undefined && v !== null) return v; } return undefined; };
  const online = pick('hosts.online', 'online', 'hosts_online') ?? hosts.filter((x) => hostStatus(x) === 'online').length;
  const offline = pick('hosts.offline', 'offline', 'hosts_offline') ?? hosts.filter((x) => hostStatus(x) === 'offline').length;
  const problems = pick('hosts.problems', 'hosts.with_problems', 'hosts.backup_failed', 'problems', 'hosts_with_problems') ?? hosts.filter(hasProblem).length;
  const total = pick('hosts.total', 'hosts_total', 'total_hosts') ?? hosts.length;
  const sizes = hosts.map(repoSize).filter((v) => v !== null && v !== undefined);
  const size = pick('repo_size', 'repository_size', 'repo_size_bytes', 'total_repo_size') ?? (sizes.length ? sizes.reduce((a, v) => a + Number(v), 0) : undefined);
  const snapshots = pick('snapshots', 'snapshot_count');
  const running = pick('jobs.running', 'jobs_running', 'running_jobs');
  const queued = pick('jobs.queued');
  const day = Date.now() - 86400e3;
  const failed = pick('jobs.failed_24h', 'failures_24h', 'failed_24h', 'jobs_failed_24h') ??
    (jobs ? jobs.filter((j) => j.status === 'failed' && (toDate(j.finished_at || j.created_at) || 0) >= day).length : undefined);
  return h('section', { class: 'strip', 'aria-label': 'Fleet summary' },
    statTile('hosts online', `${fmtNumber(online)} / ${fmtNumber(total)}`, online === total ? 'ok' : null),
    statTile('offline', fmtNumber(offline), offline > 0 ? 'muted-alert' : null),
    statTile('with problems', fmtNumber(problems), problems > 0 ? 'bad' : 'ok'),
    size !== undefined ? statTile('repository size', fmtBytes(size), null, snapshots !== undefined ? `${fmtNumber(snapshots)} snapshots` : null)
      : statTile('snapshots', snapshots === undefined ? '—' : fmtNumber(snapshots)),
    statTile('jobs running', running === undefined ? '—' : fmtNumber(running), running > 0 ? 'info' : null, queued ? `${fmtNumber(queued)} queued` : null),
    statTile('failures (24 h)', failed === undefined ? '—' : fmtNumber(failed), failed > 0 ? 'bad' : 'ok'),
    s.open_alerts !== undefined ? statTile('open alerts', fmtNumber(s.open_alerts), s.open_alerts > 0 ? 'bad' : 'ok') : null);
}

const DAY = 86400e3;

const PROBLEM_TEXT = { backup_failed: 'last backup failed', check_failed: 'last repository check failed' };
function problemText(x) {
  return Array.isArray(x.problems) && x.problems.length ? x.problems.map((p) => PROBLEM_TEXT[p] || p).join(', ') : 'needs attention';
}

function dayKey(d) { return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`; }

function calendar(hosts, jobs) {
  const today = new Date(); today.setHours(0, 0, 0, 0);
  const days = [];
  for (let i = 29; i >= 0; i--) days.push(new Date(today.getTime() - i * DAY));
  const rank = { failed: 3, warning: 2, succeeded: 1 };
  const cells = new Map(); // host id -> day -> status
  for (const j of jobs) {
    if (j.kind && j.kind !== 'backup') continue;
    if (!rank[j.status]) continue;
    const d = toDate(j.finished_at || j.started_at || j.created_at);
    if (!d) continue;
    const hid = String(j.host_id);
    if (!cells.has(hid)) cells.set(hid, new Map());
    const m = cells.get(hid), k = dayKey(d);
    if (!m.has(k) || rank[j.status] > rank[m.get(k)]) m.set(k, j.status);
  }
  const label = { succeeded: 'succeeded', warning: 'warning', failed: 'failed', none: 'no backup' };
  const sym = { succeeded: '✓', warning: '!', failed: '✕', none: '' };
  const head = h('tr', null, h('th', { scope: 'col', class: 'cal-host', text: 'Host' }), days.map((d, i) =>
    h('th', { scope: 'col', class: 'cal-day', title: dayKey(d), text: i % 7 === 0 || i === 29 ? String(d.getDate()) : '' })));
  const rows = hosts.map((x) => {
    const m = cells.get(String(x.id)) || new Map();
    return h('tr', null, h('th', { scope: 'row', class: 'cal-host' }, h('a', { href: `#/hosts/${x.id}`, text: hostName(x) })),
      days.map((d) => {
        const st = m.get(dayKey(d)) || 'none';
        return h('td', { class: `cal-cell ${st}`, title: `${hostName(x)} · ${dayKey(d)}: ${label[st]}`, 'aria-label': `${dayKey(d)}: ${label[st]}` },
          h('span', { 'aria-hidden': 'true', text: sym[st] }));
      }));
  });
  return h('section', { class: 'card' }, h('div', { class: 'section-head' }, h('h2', { text: 'Backups, last 30 days' }),
    h('div', { class: 'legend' }, ['succeeded', 'warning', 'failed', 'none'].map((s) => h('span', { class: 'legend-item' }, h('span', { class: `cal-swatch ${s}`, 'aria-hidden': 'true', text: sym[s] }), label[s])))),
  hosts.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'calendar' }, h('caption', { class: 'sr-only', text: 'Backup result per host per day' }), h('thead', null, head), h('tbody', null, rows)))
    : emptyState('No hosts yet'));
}

/** Backup jobs of the last 30 days, newest first (pages until older ones). */
async function recentBackups(since) {
  const out = [];
  const limit = Date.parse(since);
  let cursor = null;
  for (let i = 0; i < 20; i++) {
    const r = await api.get('/jobs' + qs({ kind: 'backup', since, limit: 500, cursor }));
    const items = (r && r.items) || [];
    out.push(...items);
    const last = items.length ? toDate(items[items.length - 1].created_at) : null;
    if (!r || !r.next || !last || last.getTime() < limit) break;
    cursor = r.next;
  }
  return out;
}

export async function pageDashboard(ctx) {
  const main = ctx.main;
  const PAGE = 200, CAL_MAX = 50;
  const state = { sort: { key: 'name', dir: 'asc' }, text: ctx.query.get('q') || '', tag: '', status: '', limit: PAGE };
  let hosts = [], summary = null, jobs = [], loadErr = null;
  const stripBox = h('div');
  const tableBox = h('div', null, loading());
  const calBox = h('div');
  const live = h('span', { class: 'live', title: 'Live updates' });

  const text = h('input', { type: 'search', placeholder: 'Name, OS, tag…', value: state.text });
  const tagSel = h('select', null, h('option', { value: '', text: 'All tags' }));
  const sortSel = h('select', null, [['name', 'Host name'], ['status', 'Status'], ['last', 'Last backup'], ['size', 'Repository size'], ['snaps', 'Snapshots']].map(([v, t]) => h('option', { value: v, text: t })));
  sortSel.addEventListener('change', () => { state.sort = { key: sortSel.value, dir: sortSel.value === 'name' || sortSel.value === 'status' ? 'asc' : 'desc' }; drawTable(); });
  const statusSel = h('select', null, [['', 'Any status'], ['online', 'Online'], ['offline', 'Offline'], ['problem', 'With problems'], ['stale', 'No backup in 26 h']].map(([v, t]) => h('option', { value: v, text: t })));
  text.addEventListener('input', () => { state.text = text.value; drawTable(); });
  tagSel.addEventListener('change', () => { state.tag = tagSel.value; drawTable(); });
  statusSel.addEventListener('change', () => { state.status = statusSel.value; drawTable(); });

  put(main, h('div', { class: 'page-head' }, h('h1', { text: 'Dashboard' }), live,
    ctx.can('operator') ? h('a', { class: 'btn primary', href: '#/hosts/new', text: '+ Add host' }) : null),
  stripBox, h('section', { class: 'card' },
    h('div', { class: 'filters', role: 'search' }, field('Filter', text), field('Tag', tagSel), field('Status', statusSel),
      h('div', { class: 'show-sm' }, field('Sort by', sortSel))), tableBox), calBox);

  function filtered() {
    const t = state.text.trim().toLowerCase();
    return hosts.filter((x) => {
      if (t && ![hostName(x), hostOs(x), ...hostTags(x), hostStatus(x)].some((s) => String(s).toLowerCase().includes(t))) return false;
      if (state.tag && !hostTags(x).includes(state.tag)) return false;
      if (state.status === 'problem') return hasProblem(x);
      if (state.status === 'stale') return freshness(x) !== 'fresh';
      if (state.status && hostStatus(x) !== state.status) return false;
      return true;
    });
  }

  async function runNow(x, btn) {
    btn.disabled = true;
    try {
      const j = await api.post(`/hosts/${x.id}/jobs`, { kind: 'backup', group: 'default' });
      toast(`Backup of ${hostName(x)} queued`, 'ok');
      if (j && j.id) ctx.navigate(`#/jobs/${j.id}`);
    } catch (e) { toast(e.message, 'bad'); } finally { btn.disabled = false; }
  }

  function drawTable() {
    clear(tableBox);
    clear(calBox);
    if (loadErr) { put(tableBox, errorBox(loadErr, 'hosts')); return; }
    if (!hosts.length) {
      put(tableBox, emptyState('No hosts yet', 'Add your first host: you get a one-line install command for Linux or Windows.',
        ctx.can('operator') ? h('a', { class: 'btn primary', href: '#/hosts/new', text: 'Add a host' }) : null));
      return;
    }
    const rows = filtered();
    const cols = [
      { key: 'name', label: 'Host', sort: (x) => hostName(x).toLowerCase(), render: (x) => h('a', { class: 'host-link', href: `#/hosts/${x.id}`, text: hostName(x) }) },
      { key: 'status', label: 'Status', sort: (x) => hostStatus(x), render: (x) => [badge(hostStatus(x)), hasProblem(x) ? [' ', h('span', { title: problemText(x) }, badge('problem'))] : null,
        x.running_job_id ? [' ', h('a', { href: `#/jobs/${x.running_job_id}`, class: 'badge-link', title: 'Open the running job' }, badge('running', 'job running'))] : null,
        alertBadge(x) ? [' ', alertBadge(x)] : null] },
      { key: 'os', label: 'OS/arch', cls: 'hide-sm', sort: (x) => hostOs(x), render: (x) => hostOs(x) },
      { key: 'last', label: 'Last backup', sort: (x) => { const t = toDate(lastBackup(x).time); return t ? t.getTime() : null; }, render: (x) => {
        const lb = lastBackup(x);
        if (!lb.time && !lb.status) return h('span', { class: 'muted', text: 'never' });
        return h('span', { class: `fresh-${freshness(x)}` }, lb.status ? badge(lb.status) : null, ' ', ageEl(lb.time));
      } },
      { key: 'size', label: 'Repo size', cls: 'num hide-sm', sort: (x) => Number(repoSize(x)) || 0, render: (x) => fmtBytes(repoSize(x)) },
      { key: 'snaps', label: 'Snapshots', cls: 'num hide-sm', sort: (x) => Number(snapshotCount(x)) || 0, render: (x) => fmtNumber(snapshotCount(x)) },
      { key: 'tags', label: 'Tags', cls: 'hide-sm', render: (x) => hostTags(x).map((t) => h('span', { class: 'tag', text: t })) },
    ];
    if (ctx.can('operator')) cols.push({ key: 'act', label: 'Actions', cls: 'actions-cell', render: (x) => {
      const b = h('button', { type: 'button', class: 'btn small', text: 'Run now', 'aria-label': `Run backup now on ${hostName(x)}` });
      b.addEventListener('click', () => runNow(x, b));
      return b;
    } });
    drawCalendar(sortRows(cols, rows, state.sort));
    if (!rows.length) { put(tableBox, emptyState('No host matches the filter')); return; }
    // Large fleets: render a page of rows at a time (the filter narrows further).
    const more = rows.length > state.limit ? h('button', { type: 'button', class: 'btn small', text: `Show ${Math.min(PAGE, rows.length - state.limit)} more` }) : null;
    if (more) more.addEventListener('click', () => { state.limit += PAGE; drawTable(); });
    put(tableBox, sortableTable(cols, rows, state.sort, (key) => {
      state.sort = { key, dir: state.sort.key === key && state.sort.dir === 'asc' ? 'desc' : 'asc' };
      drawTable();
    }, 'Hosts', state.limit), h('div', { class: 'table-foot' },
      h('span', { class: 'muted small', text: `${Math.min(rows.length, state.limit)} shown · ${rows.length} of ${hosts.length} hosts match` }), more));
  }

  function drawCalendar(rows) {
    if (!rows.length) return;
    const shown = rows.slice(0, CAL_MAX);
    put(clear(calBox), calendar(shown, jobs), rows.length > CAL_MAX ? h('p', { class: 'muted small', text: `The calendar shows the first ${CAL_MAX} of ${rows.length} hosts in the table's order; filter to see others.` }) : null);
  }

  function drawTags() {
    const tags = [...new Set(hosts.flatMap(hostTags))].sort();
    const cur = tagSel.value;
    put(clear(tagSel), h('option', { value: '', text: 'All tags' }), tags.map((t) => h('option', { value: t, text: t, selected: t === cur })));
  }

  async function load() {
    const since = new Date(Date.now() - 30 * DAY).toISOString();
    const [hr, sr, jr] = await Promise.allSettled([listAll('/hosts'), api.get('/fleet/summary'), recentBackups(since)]);
    if (ctx.stale()) return;
    loadErr = hr.status === 'rejected' ? hr.reason : null;
    hosts = hr.status === 'fulfilled' ? hr.value : [];
    summary = sr.status === 'fulfilled' ? sr.value : null;
    jobs = jr.status === 'fulfilled' ? jr.value : [];
    put(clear(stripBox), fleetStrip(summary, hosts, jr.status === 'fulfilled' ? jobs : null));
    drawTags();
    drawTable();
  }
  await load();
  // At most one refresh in flight; events arriving meanwhile cause one more.
  let busy = false, again = false;
  const refresh = async () => {
    if (ctx.stale()) return;
    if (busy) { again = true; return; }
    busy = true;
    try { await load(); } catch { /* keep the last view */ } finally { busy = false; }
    if (again) { again = false; refresh(); }
  };
  const stop = fleetStream(refresh, null, (ok) => { live.textContent = ok ? 'live' : 'reconnecting…'; });
  // Ages ("5 min ago") refresh without a reload.
  const ages = setInterval(() => { if (!ctx.stale()) drawTable(); }, 60000);
  return () => { stop(); clearInterval(ages); };
}

// ---------------------------------------------------------------------------

export async function pageAddHost(ctx) {
  const main = ctx.main;
  const name = h('input', { required: true, autocapitalize: 'off', spellcheck: 'false', placeholder: 'web-01', maxlength: 253 });
  const repo = h('input', { required: true, spellcheck: 'false', placeholder: 'sftp:backup@nas:/srv/restic/web-01  or  s3:https://…/bucket/web-01' });
  const pw = h('input', { type: 'password', autocomplete: 'new-password', placeholder: 'leave empty to generate one' });
  const paths = h('textarea', { rows: 4, spellcheck: 'false', placeholder: '/etc\n/home\n/var/www' });
  const msg = h('div', { 'aria-live': 'assertive' });
  const result = h('div', { 'aria-live': 'polite' });
  const btn = h('button', { type: 'submit', class: 'btn primary', text: 'Create install command' });
  const form = h('form', { class: 'card narrow', novalidate: true }, h('h2', { text: 'New host' }),
    field('Host name', name, 'How the host appears here; the agent reports its own name too.'),
    field('Repository URL', repo, 'Any restic repository URL the host can reach.'),
    field('Repository password (optional)', pw, 'Stored encrypted on the server; sent only to this host.'),
    field('Paths to back up (one per line)', paths, 'These form the “default” source group; you can change them later.'), msg, btn);
  put(main, h('div', { class: 'page-head' }, h('h1', { text: 'Add a host' })),
    h('p', { class: 'muted', text: 'Create a one-time enrolment token, then run the install command on the new machine. The agent dials out to this server; no inbound port is needed.' }),
    h('div', { class: 'grid2' }, form, result));
  let stopStream = null, countdown = null;
  ctx.onCleanup(() => { if (stopStream) stopStream(); if (countdown) clearInterval(countdown); });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    const body = { hostname: name.value.trim(), repository: { url: repo.value.trim() }, paths: paths.value.split('\n').map((s) => s.trim()).filter(Boolean) };
    if (pw.value) body.repository.password = pw.value;
    if (!body.hostname || !body.repository.url) { put(msg, h('div', { class: 'error', role: 'alert', text: 'Host name and repository URL are required.' })); return; }
    btn.disabled = true;
    try {
      const known = new Set();
      try { (await listAll('/hosts')).forEach((x) => known.add(String(x.id))); } catch { /* no hosts API: match by name */ }
      const r = await api.post('/enrollment-tokens', body);
      showResult(r, body.hostname, known);
    } catch (e) { put(msg, h('div', { class: 'error', role: 'alert', text: e.message })); } finally { btn.disabled = false; }
  });

  function cmdBlock(title, text) {
    const code = h('code', { text: text || '(not available)' });
    return h('div', { class: 'cmd' }, h('div', { class: 'cmd-head' }, h('h3', { text: title }),
      h('button', { type: 'button', class: 'btn small', text: 'Copy', 'aria-label': `Copy the ${title} command`, onclick: () => copyText(text, code) })), h('pre', null, code));
  }

  function showResult(r, hostname, known) {
    const inst = r.install || {};
    const exp = toDate(r.expires_at);
    const cd = h('span', { class: 'countdown' });
    const waiting = h('div', { class: 'waiting' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ` Waiting for ${hostname} to enrol…`);
    put(clear(result), h('section', { class: 'card' }, h('h2', { text: 'Install on the host' }),
      h('p', null, 'Token expires ', cd, '. It works once.'),
      cmdBlock('Linux (run as root)', inst.linux), cmdBlock('Windows (PowerShell as Administrator)', inst.windows),
      r.generated_password ? h('div', { class: 'notice warn' }, h('p', null, h('strong', { text: 'Repository password generated — store it safely now; it is shown only once.' })),
        h('p', { class: 'muted small', text: 'Without it the backups cannot be restored if this server is lost.' }),
        h('div', { class: 'copyline' }, h('code', { class: 'secret', text: r.generated_password }))) : null,
      h('details', null, h('summary', { text: 'Show the raw token' }), h('code', { class: 'secret', text: r.token || '' })), waiting));
    if (countdown) clearInterval(countdown);
    const tick = () => {
      if (!exp) { cd.textContent = 'in about an hour'; return; }
      const s = Math.round((exp.getTime() - Date.now()) / 1000);
      if (s <= 0) { cd.textContent = 'now — it has expired; create a new one'; cd.className = 'countdown bad'; clearInterval(countdown); return; }
      cd.textContent = `in ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    };
    tick();
    countdown = setInterval(tick, 1000);
    if (stopStream) stopStream();
    const check = async () => {
      try {
        const hs = await listAll('/hosts');
        const found = hs.find((x) => !known.has(String(x.id)) && (hostName(x) === hostname || r.host_id === x.id)) ||
          hs.find((x) => r.host_id !== undefined && String(x.id) === String(r.host_id) && hostStatus(x) !== 'pending');
        if (found) {
          put(clear(waiting), badge('succeeded', 'enrolled'), ' ', h('a', { href: `#/hosts/${found.id}`, class: 'new-host', text: hostName(found) }), ' has joined — ', hostStatus(found) === 'online' ? 'online now.' : 'waiting for its first heartbeat.');
          waiting.className = 'waiting done';
          if (stopStream) { stopStream(); stopStream = null; }
        }
      } catch { /* keep waiting */ }
    };
    stopStream = fleetStream(check);
  }
  name.focus();
}
