// pages_job.js — the job page (live progress and log over SSE, cancel,
// downloads; resumes after a reload), the jobs list and the restore wizard.
import { api, listAll, stream, qs } from './api.js';
import { h, clear, field, badge, fmtBytes, fmtNumber, fmtTime, fmtDuration, emptyState, errorBox, loading, toast, confirmDialog, toDate, put } from './ui.js';
import { hostName, hostStatus } from './hostfields.js';
import { jobsTable, jobDuration } from './pages_host.js';
import { fleetStream } from './pages_dash.js';

export const shortId = (id) => String(id).slice(0, 8);
const FINAL = new Set(['succeeded', 'warning', 'failed', 'cancelled']);
const MAX_LOG_LINES = 5000;
// The log shown on a job page is kept in sessionStorage (one job, bounded), so
// a reload shows it at once and the stream resumes with Last-Event-ID (the
// line number) instead of replaying the whole log.
const LOG_CACHE_KEY = 'rm_joblog';
const LOG_CACHE_LINES = 2000;
const LOG_CACHE_CHARS = 400000;

function loadLogCache(id, job) {
  try {
    const c = JSON.parse(sessionStorage.getItem(LOG_CACHE_KEY) || 'null');
    if (c && c.id === id && Array.isArray(c.lines) && Number.isInteger(c.last) && c.last > 0 &&
        (job.log_lines === undefined || job.log_lines === null || c.last <= job.log_lines)) return c;
  } catch { /* unreadable: start over */ }
  return null;
}

function saveLogCache(c) {
  let chars = 0, i = c.lines.length;
  while (i > 0 && chars < LOG_CACHE_CHARS) chars += String(c.lines[--i].text || '').length + 40;
  if (i > 0) { c.lines.splice(0, i); c.trimmed = true; }
  try { sessionStorage.setItem(LOG_CACHE_KEY, JSON.stringify(c)); } catch { try { sessionStorage.removeItem(LOG_CACHE_KEY); } catch { /* ignore */ } }
}

export async function pageJobs(ctx) {
  const main = ctx.main;
  const status = h('select', null, [['', 'Any status'], ['running', 'Running'], ['queued', 'Queued'], ['succeeded', 'Succeeded'], ['warning', 'Warning'], ['failed', 'Failed'], ['cancelled', 'Cancelled']].map(([v, t]) => h('option', { value: v, text: t, selected: v === (ctx.query.get('status') || '') })));
  const kind = h('select', null, [['', 'Any kind'], ...['backup', 'restore', 'forget', 'prune', 'check', 'init', 'unlock', 'stats', 'snapshots', 'diff'].map((k) => [k, k])].map(([v, t]) => h('option', { value: v, text: t, selected: v === (ctx.query.get('kind') || '') })));
  const box = h('div', null, loading());
  const pager = h('div', { class: 'pager' });
  put(main, h('div', { class: 'page-head' }, h('h1', { text: 'Jobs' })),
    h('section', { class: 'card' }, h('div', { class: 'filters' }, field('Status', status), field('Kind', kind)), box, pager));
  const PAGE = 50;
  const cursors = [null];
  let page = 0;
  const load = async () => {
    try {
      const r = await api.get('/jobs' + qs({ status: status.value, kind: kind.value, limit: PAGE, cursor: cursors[page] }));
      const jobs = (r && r.items) || [];
      cursors[page + 1] = r && r.next ? r.next : undefined;
      put(clear(box), jobs.length ? jobsTable(jobs, true) : emptyState(page ? 'No more jobs' : 'No jobs match', 'Jobs appear here when a backup or another operation runs.'));
    } catch (e) { put(clear(box), errorBox(e, 'jobs')); }
    const prev = h('button', { type: 'button', class: 'btn', text: '← Newer', disabled: page === 0, onclick: () => { page--; load(); } });
    const next = h('button', { type: 'button', class: 'btn', text: 'Older →', disabled: !cursors[page + 1], onclick: () => { page++; load(); } });
    put(clear(pager), prev, h('span', { class: 'muted', text: `Page ${page + 1}` }), next);
  };
  const restart = () => { cursors.length = 1; page = 0; load(); };
  status.addEventListener('change', restart);
  kind.addEventListener('change', restart);
  await load();
  // New and finished jobs appear without a reload (on the first page; later
  // pages would shift under the reader).
  return fleetStream(() => { if (!ctx.stale() && page === 0) load(); });
}

// A job result made of plain values, nested at most `depth` objects deep
// (e.g. stats: {restore_size: {total_size, …}, raw_data: {…}}), is shown as
// key/value lists; anything else as JSON.
function simpleResult(o, depth) {
  return Object.values(o).every((v) => v === null || typeof v !== 'object' || (!Array.isArray(v) && depth > 1 && simpleResult(v, depth - 1)));
}
function resultList(o) {
  const val = (k, v) => (typeof v === 'number' && /size|bytes/.test(k) ? fmtBytes(v) : typeof v === 'number' ? fmtNumber(v) : String(v));
  return h('dl', { class: 'kv' }, Object.entries(o).map(([k, v]) => [h('dt', { text: k.replace(/_/g, ' ') }),
    v && typeof v === 'object' ? h('dd', null, resultList(v)) : h('dd', { text: v === null ? '—' : val(k, v) })]));
}

function pick(o, ...keys) { for (const k of keys) if (o && o[k] !== undefined && o[k] !== null) return o[k]; return undefined; }

export async function pageJob(ctx) {
  const id = ctx.params.id;
  const main = ctx.main;
  let job;
  try { job = await api.get(`/jobs/${encodeURIComponent(id)}`); } catch (e) { put(main, errorBox(e, `job #${id}`)); return; }
  if (ctx.stale()) return;
  let host = null;
  try { host = await api.get(`/hosts/${job.host_id}`); } catch { /* show the id */ }

  const statusBox = h('span');
  const cancelBtn = h('button', { type: 'button', class: 'btn danger', text: 'Cancel job' });
  const bar = h('div', { class: 'progress-fill' });
  const progress = h('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Job progress', 'aria-valuemin': 0, 'aria-valuemax': 100 }, bar);
  const pctEl = h('span', { class: 'pct', text: '—' });
  const filesEl = h('span', { text: '—' }), bytesEl = h('span', { text: '—' }), etaEl = h('span', { text: '—' });
  const currentEl = h('div', { class: 'current muted small mono' });
  const log = h('div', { class: 'log', role: 'log', 'aria-live': 'off', tabindex: 0, 'aria-label': 'Job log' });
  const logNote = h('p', { class: 'muted small', hidden: true, text: 'Only the latest lines are shown here; download the log for all of it.' });
  const cache = loadLogCache(id, job) || { id, last: 0, lines: [], trimmed: false };
  let saveTimer = null;
  const saveSoon = () => { if (!saveTimer) saveTimer = setTimeout(() => { saveTimer = null; saveLogCache(cache); }, 400); };
  const follow = h('input', { type: 'checkbox', checked: true });
  const summaryBox = h('div');
  const liveEl = h('span', { class: 'live' });
  // Screen readers hear the job's state changes (queued → running → done).
  const announce = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-role': 'job-announce' });
  let announced = null;
  const metaBox = h('div');
  let progressCard = null;

  put(main, 
    h('p', { class: 'crumbs' }, h('a', { href: '#/', text: 'Dashboard' }), ' / ', host ? h('a', { href: `#/hosts/${job.host_id}/jobs`, text: hostName(host) }) : `host ${job.host_id}`, ' / ', h('span', { text: `job #${shortId(id)}` })),
    announce,
    h('div', { class: 'page-head' }, h('h1', { text: `${job.kind ? job.kind[0].toUpperCase() + job.kind.slice(1) : 'Job'} #${shortId(id)}` }), statusBox, liveEl,
      h('div', { class: 'head-actions' }, ctx.can('operator') ? cancelBtn : null)),
    metaBox,
    progressCard = h('section', { class: 'card', hidden: !['backup', 'restore'].includes(job.kind) && !job.progress }, h('h2', { class: 'sr-only', text: 'Progress' }),
      h('div', { class: 'progress-row' }, progress, pctEl),
      h('dl', { class: 'progress-stats' }, h('div', null, h('dt', { text: 'Files' }), h('dd', null, filesEl)), h('div', null, h('dt', { text: 'Data' }), h('dd', null, bytesEl)), h('div', null, h('dt', { text: 'Time left' }), h('dd', null, etaEl))),
      currentEl),
    summaryBox,
    h('section', { class: 'card' }, h('div', { class: 'section-head' }, h('h2', { text: 'Log' }),
      h('div', { class: 'button-row' }, h('label', { class: 'check' }, follow, ' Follow'),
        h('a', { class: 'btn small', href: `/api/v1/jobs/${encodeURIComponent(id)}/log`, download: `job-${id}.log`, text: 'Download text' }),
        h('a', { class: 'btn small', href: `/api/v1/jobs/${encodeURIComponent(id)}/log?format=ndjson`, download: `job-${id}.ndjson`, text: 'Download NDJSON' }))),
    logNote, log));

  const drawMeta = () => {
    put(clear(metaBox), h('div', { class: 'card vitals' }, h('dl', { class: 'kv' },
      [['Kind', job.kind], ['Started by', job.actor_name ? `${job.actor_name} (${job.actor})` : job.actor], ['Queued', fmtTime(job.created_at)],
        ['Started', job.started_at ? fmtTime(job.started_at) : 'not yet'], ['Finished', job.finished_at ? fmtTime(job.finished_at) : '—'],
        ['Duration', fmtDuration(jobDuration(job))], ['Exit code', job.exit_code ?? '—']].map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v ?? '—' })]))));
  };
  const drawStatus = () => {
    put(clear(statusBox), badge(job.status));
    if (job.status && job.status !== announced) {
      // The first state is on the page already; announce only changes.
      if (announced !== null) announce.textContent = `${job.kind || 'Job'} #${shortId(id)} ${job.status}`;
      announced = job.status;
    }
    cancelBtn.hidden = FINAL.has(job.status);
    drawMeta();
    if (FINAL.has(job.status)) {
      liveEl.textContent = '';
      if (job.status === 'succeeded' || job.status === 'warning') setProgress({}, true);
      drawSummary();
    }
  };
  const drawSummary = () => {
    const s = job.summary;
    clear(summaryBox);
    if (job.error) put(summaryBox, h('div', { class: 'error', role: 'alert' }, h('strong', { text: 'Error: ' }), String(job.error)));
    if (!s || typeof s !== 'object') return;
    if (s.message_type === 'statistics' && s.added && s.removed) {
      const side = (x) => `${fmtNumber(x.files)} files, ${fmtNumber(x.dirs)} dirs, ${fmtBytes(x.bytes)}`;
      put(summaryBox, h('section', { class: 'card' }, h('h2', { text: 'Differences' }), h('dl', { class: 'kv' },
        h('dt', { text: 'From' }), h('dd', null, h('code', { text: String(s.source_snapshot || '').slice(0, 8) })),
        h('dt', { text: 'To' }), h('dd', null, h('code', { text: String(s.target_snapshot || '').slice(0, 8) })),
        h('dt', { text: 'Changed files' }), h('dd', { text: fmtNumber(s.changed_files) }),
        h('dt', { text: 'Added' }), h('dd', { text: side(s.added) }),
        h('dt', { text: 'Removed' }), h('dd', { text: side(s.removed) }))));
      return;
    }
    const restored = job.kind === 'restore';
    const rows = restored ? [['Files restored', fmtNumber(s.files_restored ?? s.total_files)], ['Data restored', fmtBytes(s.bytes_restored ?? s.total_bytes)],
      ['Files skipped', s.files_skipped !== undefined ? fmtNumber(s.files_skipped) : null], ['Target', job.args && job.args.target ? h('code', { text: String(job.args.target) }) : null]]
      .filter(([, v]) => v !== null && v !== '—') : [['Snapshot', s.snapshot_id ? h('code', { text: String(s.snapshot_id).slice(0, 8) }) : null],
      ['New files', fmtNumber(s.files_new)], ['Changed files', fmtNumber(s.files_changed)], ['Unchanged files', fmtNumber(s.files_unmodified)],
      ['Data added', fmtBytes(s.data_added)], ['Processed', fmtBytes(s.total_bytes_processed)], ['restic duration', s.total_duration !== undefined ? fmtDuration(s.total_duration) : null]]
      .filter(([, v]) => v !== null && v !== '—');
    if (rows.length) put(summaryBox, h('section', { class: 'card' }, h('h2', { text: 'Summary' }), h('dl', { class: 'kv' }, rows.map(([k, v]) => [h('dt', { text: k }), h('dd', null, v)]))));
    else if (simpleResult(s, 2)) put(summaryBox, h('section', { class: 'card' }, h('h2', { text: 'Result' }), resultList(s)));
    else put(summaryBox, h('section', { class: 'card' }, h('h2', { text: 'Result' }), h('pre', { class: 'result' }, h('code', { text: JSON.stringify(s, null, 2) }))));
  };
  const setProgress = (p, final) => {
    // The agent reports percent 0..100; restic's own percent_done is 0..1.
    let pct = final ? 100 : p.percent !== undefined && p.percent !== null ? Number(p.percent)
      : p.percent_done !== undefined && p.percent_done !== null ? Number(p.percent_done) * 100 : undefined;
    if (pct !== undefined && !isNaN(pct)) {
      pct = Math.max(0, Math.min(100, pct));
      bar.style.width = pct.toFixed(1) + '%';
      progress.setAttribute('aria-valuenow', pct.toFixed(0));
      pctEl.textContent = pct.toFixed(pct < 10 ? 1 : 0) + ' %';
    }
    const valueText = () => [pctEl.textContent !== '—' ? pctEl.textContent.replace(' %', '%') : null,
      filesEl.textContent !== '—' ? `${filesEl.textContent} files` : null, etaEl.textContent !== '—' ? `${etaEl.textContent} left` : null].filter(Boolean).join(', ');
    if (final) {
      // A finished backup: the totals come from restic's summary (the last
      // progress report may predate the final counts).
      const sm = job.summary || {};
      const files = sm.total_files_processed ?? sm.files_restored ?? sm.total_files;
      const bytes = sm.total_bytes_processed ?? sm.bytes_restored ?? sm.total_bytes;
      if (files !== undefined) filesEl.textContent = `${fmtNumber(files)} of ${fmtNumber(files)}`;
      if (bytes !== undefined) bytesEl.textContent = `${fmtBytes(bytes)} of ${fmtBytes(bytes)}`;
      etaEl.textContent = '—';
      currentEl.textContent = '';
      progress.setAttribute('aria-valuetext', valueText() || 'done');
      return;
    }
    if (progressCard) progressCard.hidden = false;
    const fd = pick(p, 'files_done'), tf = pick(p, 'total_files');
    if (fd !== undefined) filesEl.textContent = tf ? `${fmtNumber(fd)} of ${fmtNumber(tf)}` : fmtNumber(fd);
    const bd = pick(p, 'bytes_done'), tb = pick(p, 'total_bytes');
    if (bd !== undefined) bytesEl.textContent = tb ? `${fmtBytes(bd)} of ${fmtBytes(tb)}` : fmtBytes(bd);
    const eta = pick(p, 'seconds_remaining', 'eta');
    etaEl.textContent = eta !== undefined ? fmtDuration(eta) : '—';
    const cur = pick(p, 'current_files');
    currentEl.textContent = Array.isArray(cur) && cur.length ? 'Now: ' + cur.join(', ') : '';
    const vt = valueText();
    if (vt) progress.setAttribute('aria-valuetext', vt); else progress.removeAttribute('aria-valuetext');
  };
  const appendLines = (lines, fromCache) => {
    const frag = document.createDocumentFragment();
    for (const l of lines) {
      const obj = typeof l === 'object' && l ? l : null;
      const n = obj && Number.isInteger(obj.line) ? obj.line : null;
      if (!fromCache && n !== null) {
        if (n <= cache.last) continue; // already shown (resumed stream)
        cache.last = n;
        cache.lines.push({ line: n, t: obj.t || null, stream: obj.stream || null, text: obj.text ?? '' });
        if (cache.lines.length > LOG_CACHE_LINES) { cache.lines.splice(0, cache.lines.length - LOG_CACHE_LINES); cache.trimmed = true; }
      }
      const text = obj ? obj.text ?? obj.line ?? '' : l;
      const st = obj ? obj.stream : null;
      const t = obj ? obj.t || obj.time : null;
      put(frag, h('div', { class: ['line', st === 'stderr' ? 'stderr' : st === 'agent' ? 'agent' : null], 'data-line': n ?? undefined },
        t ? h('span', { class: 'ts', text: (fmtTime(t).split(' ')[1] || '') + ' ' }) : null, text));
    }
    put(log, frag);
    while (log.childElementCount > MAX_LOG_LINES) { log.firstElementChild.remove(); logNote.hidden = false; }
    if (follow.checked) log.scrollTop = log.scrollHeight;
    if (!fromCache) saveSoon();
  };
  log.addEventListener('scroll', () => {
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    if (!atEnd && follow.checked && log.dataset.programmatic !== '1') follow.checked = false;
  });
  follow.addEventListener('change', () => { if (follow.checked) log.scrollTop = log.scrollHeight; });

  cancelBtn.addEventListener('click', async () => {
    if (!await confirmDialog({ title: `Cancel job #${shortId(id)}?`, text: 'restic is stopped on the host; a partial backup leaves no snapshot.', ok: 'Cancel job' })) return;
    try { await api.post(`/jobs/${encodeURIComponent(id)}/cancel`); toast('Cancellation requested', 'ok'); } catch (e) { toast(e.message, 'bad'); }
  });

  // A job that is already over shows its final bar at once (no animation).
  if (FINAL.has(job.status)) bar.classList.add('instant');
  if (job.progress && job.status !== 'succeeded' && job.status !== 'warning') setProgress(job.progress);
  drawStatus();

  // Live stream: the server replays the job's events from the start (or from
  // Last-Event-ID when the browser reconnects), so a reload shows everything.
  const onJob = (d) => {
    if (!d || typeof d !== 'object') return;
    const j = d.job || d;
    if (j.status) { Object.assign(job, j); drawStatus(); }
    if (j.progress && typeof j.progress === 'object' && !FINAL.has(job.status)) setProgress(j.progress);
  };
  const handlers = {
    'job.progress': (d) => setProgress(d), progress: (d) => setProgress(d),
    'job.log': (d) => appendLines(d.lines || (Array.isArray(d) ? d : [d])), log: (d) => appendLines(d.lines || (Array.isArray(d) ? d : [d])),
    'job.started': (d) => { job.status = 'running'; Object.assign(job, d.job || {}); drawStatus(); },
    'job.finished': (d) => { Object.assign(job, d.job || d); if (!job.status || !FINAL.has(job.status)) job.status = d.status; drawStatus(); end(); },
    finished: (d) => { Object.assign(job, d.job || d); drawStatus(); end(); },
    state: onJob, status: onJob, job: onJob, 'job.updated': onJob,
    end: () => end(),
    onopen: () => { liveEl.textContent = FINAL.has(job.status) ? '' : 'live'; },
    onerror: () => { if (!FINAL.has(job.status)) liveEl.textContent = 'reconnecting…'; },
  };
  let s = null;
  function end() {
    if (s) { s.close(); s = null; }
    liveEl.textContent = '';
    api.get(`/jobs/${encodeURIComponent(id)}`).then((j) => { Object.assign(job, j); drawStatus(); }).catch(() => {});
  }
  if (cache.lines.length) {
    appendLines(cache.lines, true);
    if (cache.lines[0].line > 1) logNote.hidden = false;
  }
  s = stream(`/jobs/${encodeURIComponent(id)}/stream`, handlers, cache.last || undefined);
  const flush = () => { if (saveTimer) { clearTimeout(saveTimer); saveTimer = null; } saveLogCache(cache); };
  window.addEventListener('pagehide', flush);
  return () => { if (s) s.close(); flush(); window.removeEventListener('pagehide', flush); };
}

// ---------------------------------------------------------------------------
// Restore wizard: snapshot → files (lazy tree) → target → confirm → job page.

export async function pageRestore(ctx) {
  const hostId = ctx.params.id;
  const main = ctx.main;
  let host, snaps;
  try {
    [host, snaps] = await Promise.all([api.get(`/hosts/${encodeURIComponent(hostId)}`), listAll(`/hosts/${encodeURIComponent(hostId)}/snapshots`)]);
  } catch (e) { put(main, errorBox(e, 'the restore wizard')); return; }
  snaps.sort((a, b) => (toDate(b.time) || 0) - (toDate(a.time) || 0));
  const st = { step: 1, snapshot: ctx.query.get('snapshot') || null, paths: new Set(), mode: 'new', target: '', otherHost: '', confirm: '' };
  if (st.snapshot && snaps.some((s) => s.id === st.snapshot || s.short_id === st.snapshot)) st.step = 2;
  const steps = ['Snapshot', 'Files', 'Target', 'Confirm'];
  const stepper = h('ol', { class: 'stepper' });
  const body = h('section', { class: 'card' });
  put(main, h('p', { class: 'crumbs' }, h('a', { href: '#/', text: 'Dashboard' }), ' / ', h('a', { href: `#/hosts/${hostId}`, text: hostName(host) }), ' / ', h('span', { text: 'Restore' })),
    h('div', { class: 'page-head' }, h('h1', { text: `Restore from ${hostName(host)}` })), stepper, body);
  const snapById = (sid) => snaps.find((s) => s.id === sid || s.short_id === sid);

  function nav(backOk, nextLabel, nextOk, onNext) {
    const back = h('button', { type: 'button', class: 'btn', text: '← Back', disabled: !backOk });
    back.addEventListener('click', () => { st.step--; draw(); });
    const next = h('button', { type: 'button', class: 'btn primary', text: nextLabel, disabled: !nextOk });
    next.addEventListener('click', onNext || (() => { st.step++; draw(); }));
    return h('div', { class: 'wizard-nav' }, back, next);
  }

  function draw() {
    put(clear(stepper), steps.map((s, i) => h('li', { class: i + 1 === st.step ? 'current' : i + 1 < st.step ? 'done' : undefined, 'aria-current': i + 1 === st.step ? 'step' : undefined, text: `${i + 1}. ${s}` })));
    clear(body);
    if (st.step === 1) drawSnapshots();
    else if (st.step === 2) drawTree();
    else if (st.step === 3) drawTarget();
    else drawConfirm();
    // Focus: the chosen radio (so arrow keys keep moving through a group that
    // re-renders on change), else the first field, else the step's heading.
    const heading = body.querySelector('h2');
    if (heading) heading.tabIndex = -1;
    const first = body.querySelector('input[type=radio]:checked') || body.querySelector('input, select') || heading;
    if (first) first.focus();
  }

  function drawSnapshots() {
    put(body, h('h2', { text: 'Choose a snapshot' }));
    if (!snaps.length) { put(body, emptyState('No snapshots', 'This host has no snapshots to restore from yet.')); return; }
    const list = h('div', { class: 'radio-list', role: 'radiogroup', 'aria-label': 'Snapshots' }, snaps.map((s) => {
      const sid = s.id || s.short_id;
      const r = h('input', { type: 'radio', name: 'snap', value: sid, checked: st.snapshot === sid || st.snapshot === s.short_id });
      r.addEventListener('change', () => { st.snapshot = sid; st.paths.clear(); draw(); });
      return h('label', { class: 'radio-row' }, r, h('span', { class: 'mono', text: s.short_id || String(sid).slice(0, 8) }), h('span', { text: fmtTime(s.time) }),
        h('span', { class: 'muted paths', text: (s.paths || []).join(', ') }));
    }));
    put(body, list, nav(false, 'Next: choose files →', !!st.snapshot));
  }

  function drawTree() {
    const snap = snapById(st.snapshot);
    const sel = h('p', { class: 'muted', 'aria-live': 'polite' });
    const updateSel = () => { sel.textContent = st.paths.size ? `${st.paths.size} selected: ${[...st.paths].join(', ')}` : 'Nothing selected: the whole snapshot will be restored.'; };
    updateSel();
    const root = h('ul', { class: 'tree', 'aria-label': 'Snapshot files' });
    put(body, h('h2', { text: `Choose files from ${snap ? snap.short_id || snap.id : st.snapshot}` }),
      h('p', { class: 'muted', text: 'Open folders to browse; tick files or folders to restore. Folders load as you open them.' }), root, sel,
      nav(true, 'Next: choose target →', true));
    const loadDir = async (path, ul) => {
      put(clear(ul), h('li', { class: 'muted', text: 'Loading…' }));
      try {
        const r = await api.get(`/hosts/${encodeURIComponent(hostId)}/snapshots/${encodeURIComponent(st.snapshot)}/tree` + qs({ path }));
        const entries = (r && (r.items || r.entries)) || [];
        clear(ul);
        if (!entries.length) { put(ul, h('li', { class: 'muted', text: '(empty)' })); return; }
        entries.sort((a, b) => (a.type === 'dir') === (b.type === 'dir') ? String(a.name).localeCompare(String(b.name)) : a.type === 'dir' ? -1 : 1);
        for (const e of entries) put(ul, treeItem(e));
      } catch (e) { put(clear(ul), h('li', null, errorBox(e, 'this folder'))); }
    };
    const treeItem = (e) => {
      const p = e.path || e.name;
      const isDir = e.type === 'dir';
      const cb = h('input', { type: 'checkbox', checked: st.paths.has(p), 'aria-label': `Select ${p}` });
      cb.addEventListener('change', () => { if (cb.checked) st.paths.add(p); else st.paths.delete(p); updateSel(); });
      const li = h('li');
      const sub = h('ul', { hidden: true });
      let toggle = h('span', { class: 'twisty', 'aria-hidden': 'true' });
      if (isDir) {
        toggle = h('button', { type: 'button', class: 'twisty', 'aria-label': `Open ${p}`, 'aria-expanded': 'false', text: '▸' });
        let loaded = false;
        toggle.addEventListener('click', () => {
          const open = sub.hidden;
          sub.hidden = !open;
          toggle.setAttribute('aria-expanded', String(open));
          toggle.textContent = open ? '▾' : '▸';
          toggle.setAttribute('aria-label', `${open ? 'Close' : 'Open'} ${p}`);
          if (open && !loaded) { loaded = true; loadDir(p, sub); }
        });
      }
      put(li, h('div', { class: 'tree-row' }, toggle, h('label', null, cb, h('span', { class: isDir ? 'dir' : 'file', text: e.name + (isDir ? '/' : '') })),
        !isDir && e.size !== undefined ? h('span', { class: 'muted small', text: fmtBytes(e.size) }) : null), isDir ? sub : null);
      return li;
    };
    loadDir('/', root);
  }

  async function drawTarget() {
    put(body, h('h2', { text: 'Where to restore' }));
    const mk = (val, label, hint) => {
      const r = h('input', { type: 'radio', name: 'mode', value: val, checked: st.mode === val });
      r.addEventListener('change', () => { st.mode = val; draw(); });
      return h('label', { class: 'radio-row block' }, r, h('span', null, h('strong', { text: label }), h('span', { class: 'muted block', text: hint })));
    };
    put(body, h('div', { class: 'radio-list', role: 'radiogroup', 'aria-label': 'Restore target' },
      mk('new', 'A new directory (safe)', 'Files land in a fresh directory under the agent’s restore root, or in the directory you name.'),
      // restic 0.14 cannot map Windows snapshot paths (/C/...) back to drive letters; the server refuses it.
      host.os === 'windows' ? null : mk('inplace', 'In place (overwrites files)', 'Restores over the original paths on this host. You must type the host name to confirm.'),
      mk('other', 'Another host', 'Restore onto a different host that uses the same repository.')));
    if (st.mode === 'new') {
      const t = h('input', { value: st.target, placeholder: 'empty = automatic', spellcheck: 'false' });
      t.addEventListener('input', () => { st.target = t.value; });
      put(body, field('Target directory (optional)', t));
    } else if (st.mode === 'other') {
      const selEl = h('select', null, h('option', { value: '', text: 'Loading hosts…' }));
      const t = h('input', { value: st.target, placeholder: 'empty = automatic', spellcheck: 'false' });
      t.addEventListener('input', () => { st.target = t.value; });
      put(body, field('Destination host', selEl), field('Target directory on that host (optional)', t));
      listAll('/hosts').then((hs) => {
        // Another host can restore only from a repository it can open: the same URL.
      const url = host.repository && host.repository.url;
      const others = hs.filter((x) => String(x.id) !== String(hostId) && (!url || !x.repository || x.repository.url === url));
      put(clear(selEl), h('option', { value: '', text: others.length ? 'Choose a host' : 'No other host uses this repository' }),
        others.map((x) => h('option', { value: x.id, 'data-name': hostName(x), text: `${hostName(x)} (${hostStatus(x)})`, selected: String(x.id) === String(st.otherHost) })));
      }).catch((e) => { put(clear(selEl), h('option', { value: '', text: 'cannot load hosts: ' + e.message })); });
      selEl.addEventListener('change', () => { st.otherHost = selEl.value; st.otherHostName = selEl.value ? selEl.selectedOptions[0].dataset.name : ''; });
    } else {
      const c = h('input', { value: st.confirm, autocomplete: 'off', spellcheck: 'false' });
      c.addEventListener('input', () => { st.confirm = c.value; });
      put(body, h('div', { class: 'notice warn' }, 'Files on ', h('strong', { text: hostName(host) }), ' will be overwritten with their snapshot versions.'),
        field(`Type the host name “${hostName(host)}” to confirm`, c));
    }
    put(body, nav(true, 'Next: review →', true, () => {
      if (st.mode === 'other' && !st.otherHost) { toast('Choose the destination host', 'warn'); return; }
      if (st.mode === 'inplace' && st.confirm !== hostName(host)) { toast('Type the host name exactly to confirm an in-place restore', 'warn'); return; }
      st.step++; draw();
    }));
  }

  function drawConfirm() {
    const snap = snapById(st.snapshot);
    const where = st.mode === 'inplace' ? 'in place, over the original files' : st.mode === 'other' ? `onto host ${st.otherHostName || '#' + st.otherHost}${st.target ? ' in ' + st.target : ', in a new directory under its restore root'}` : st.target ? `into ${st.target}` : 'into a new directory under the restore root';
    const msg = h('div', { 'aria-live': 'assertive' });
    put(body, h('h2', { text: 'Review and start' }), h('dl', { class: 'kv' },
      h('dt', { text: 'Snapshot' }), h('dd', null, h('code', { text: snap ? snap.short_id || snap.id : st.snapshot }), snap ? ` (${fmtTime(snap.time)})` : ''),
      h('dt', { text: 'Files' }), h('dd', null, st.paths.size ? [...st.paths].map((p) => h('div', { class: 'mono', text: p })) : 'everything in the snapshot'),
      h('dt', { text: 'Target' }), h('dd', { text: where })), msg,
    nav(true, 'Start restore', true, async (ev) => {
      const btn = ev.currentTarget;
      const req = { kind: 'restore', snapshot: snap ? snap.id : st.snapshot, paths: [...st.paths] };
      if (st.target && st.mode !== 'inplace') req.target = st.target;
      if (st.mode === 'inplace') { req.in_place = true; req.confirm = st.confirm; }
      if (st.mode === 'other') req.host_id = Number(st.otherHost);
      btn.disabled = true;
      try {
        const j = await api.post(`/hosts/${encodeURIComponent(hostId)}/jobs`, req);
        toast('Restore started', 'ok');
        ctx.navigate(`#/jobs/${j.id}`);
      } catch (e) { put(clear(msg), h('div', { class: 'error', role: 'alert', text: e.message })); btn.disabled = false; }
    }));
  }
  draw();
}
