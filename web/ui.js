// ui.js — DOM helpers for the restic-manager UI.  Every value from the server
// or a user is rendered with text nodes / textContent; nothing here ever
// assigns innerHTML, so a host name such as "<script>" stays text.

/** Create an element.  attrs: class, text, dataset keys (data-*), aria-*,
 *  on<Event> functions (addEventListener), boolean properties (disabled,
 *  checked, hidden, selected), anything else as an attribute. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      else if (k === 'text') el.textContent = String(v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k === 'value') el.value = v;
      else if (['disabled', 'checked', 'hidden', 'selected', 'required', 'readOnly', 'open'].includes(k)) el[k] = !!v;
      else if (k === 'style' || k === 'innerHTML') throw new Error('refused attribute ' + k);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Append children (nested arrays flattened; null/false skipped; strings as text). */
export function put(el, ...children) { return append(el, children); }

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let idSeq = 0;
export function uid(prefix = 'f') { return `${prefix}-${++idSeq}`; }

/** A labelled form field.  input: an element created by h(); returns a wrapper. */
export function field(label, input, hint) {
  if (!input.id) input.id = uid();
  const hintEl = hint ? h('div', { class: 'hint', id: input.id + '-hint', text: hint }) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input, hintEl);
}

// ---- formatting -----------------------------------------------------------

export function fmtBytes(n) {
  if (n === null || n === undefined || n === '' || isNaN(Number(n))) return '—';
  n = Number(n);
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + u[i];
}

export function fmtNumber(n) {
  if (n === null || n === undefined || isNaN(Number(n))) return '—';
  return Number(n).toLocaleString('en-US');
}

/** Parse a timestamp: ISO string, seconds or milliseconds since the epoch. */
export function toDate(t) {
  if (t === null || t === undefined || t === '' || t === 0) return null;
  if (typeof t === 'number') return new Date(t < 1e11 ? t * 1000 : t);
  const d = new Date(t);
  return isNaN(d.getTime()) ? null : d;
}

export function fmtTime(t) {
  const d = toDate(t);
  if (!d) return '—';
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtDuration(sec) {
  if (sec === null || sec === undefined || isNaN(Number(sec))) return '—';
  sec = Math.max(0, Math.round(Number(sec)));
  if (sec < 60) return sec + ' s';
  const m = Math.floor(sec / 60), s = sec % 60;
  if (m < 60) return `${m} min ${s} s`;
  const hh = Math.floor(m / 60);
  if (hh < 48) return `${hh} h ${m % 60} min`;
  return `${Math.floor(hh / 24)} d ${hh % 24} h`;
}

export function ageSeconds(t) {
  const d = toDate(t);
  return d ? (Date.now() - d.getTime()) / 1000 : null;
}

export function fmtAge(t) {
  const s = ageSeconds(t);
  if (s === null) return 'never';
  if (s < 45) return 'just now';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400 * 2) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' days ago';
}

/** A time element showing a relative age with the absolute time as title. */
export function ageEl(t, cls) {
  const d = toDate(t);
  return h('time', { class: cls, datetime: d ? d.toISOString() : undefined, title: d ? fmtTime(d) : undefined, text: fmtAge(t) });
}

// ---- status badges: colour plus a text label and a symbol ------------------

const STATUS = {
  online: ['ok', '●', 'online'],
  offline: ['muted', '○', 'offline'],
  pending: ['info', '◌', 'pending'],
  succeeded: ['ok', '✓', 'succeeded'],
  success: ['ok', '✓', 'succeeded'],
  warning: ['warn', '!', 'warning'],
  failed: ['bad', '✕', 'failed'],
  error: ['bad', '✕', 'error'],
  cancelled: ['muted', '⊘', 'cancelled'],
  canceled: ['muted', '⊘', 'cancelled'],
  queued: ['info', '…', 'queued'],
  running: ['info', '▶', 'running'],
  problem: ['bad', '!', 'problem'],
  none: ['muted', '–', 'none'],
};

export function badge(status, label) {
  const s = STATUS[String(status || 'none').toLowerCase()] || ['muted', '•', String(status || 'unknown')];
  return h('span', { class: `badge ${s[0]}` }, h('span', { class: 'sym', 'aria-hidden': 'true', text: s[1] }), ' ', label || s[2]);
}

// ---- page states -----------------------------------------------------------

export function emptyState(title, text, ...actions) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title', text: title }), text ? h('p', { text }) : null,
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

export function errorBox(err, what) {
  const msg = err && err.message ? err.message : String(err);
  let title = what ? `Could not load ${what}` : 'Something went wrong';
  if (err && err.status === 404 && err.code === 'not_found' && /route/.test(msg)) {
    title = what ? `${what[0].toUpperCase()}${what.slice(1)} not available` : 'Not available';
    return h('div', { class: 'notice', role: 'status' }, h('strong', { text: title }), ' — this server does not provide this feature yet.');
  }
  if (err && err.status === 403) title = 'Not allowed';
  return h('div', { class: 'error', role: 'alert' }, h('strong', { text: title + ': ' }), msg);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status', text });
}

// ---- toasts and confirmation ---------------------------------------------

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}` }, message); // the container is the live region
  box.append(t);
  setTimeout(() => t.remove(), kind === 'bad' ? 9000 : 4500);
}

/** Modal confirmation.  opts: title, text, ok (button label), danger (bool),
 *  typed (a string the user must type to enable OK), input ({label, type,
 *  minLength}: a value to ask for; OK needs minLength characters; the value is
 *  left in opts.value).  Resolves true/false. */
export function confirmDialog(opts) {
  const dlg = document.getElementById('confirm');
  const ok = document.getElementById('confirm-ok');
  document.getElementById('confirm-title').textContent = opts.title || 'Are you sure?';
  document.getElementById('confirm-text').textContent = opts.text || '';
  const extra = clear(document.getElementById('confirm-extra'));
  ok.textContent = opts.ok || 'Confirm';
  ok.className = 'btn ' + (opts.danger === false ? 'primary' : 'danger');
  ok.disabled = false;
  if (opts.typed) {
    const inp = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
    extra.append(field(`Type “${opts.typed}” to confirm`, inp));
    ok.disabled = true;
    inp.addEventListener('input', () => { ok.disabled = inp.value !== opts.typed; });
    setTimeout(() => inp.focus(), 0);
  }
  if (opts.input) {
    const inp = h('input', { type: opts.input.type || 'text', autocomplete: opts.input.type === 'password' ? 'new-password' : 'off', spellcheck: 'false' });
    const min = opts.input.minLength || 1;
    extra.append(field(opts.input.label, inp, opts.input.hint));
    ok.disabled = true;
    inp.addEventListener('input', () => { ok.disabled = inp.value.length < min; opts.value = inp.value; });
    setTimeout(() => inp.focus(), 0);
  }
  // Enter in a confirmation field means OK (when allowed), not the form's
  // first button (Cancel).
  for (const inp of extra.querySelectorAll('input')) {
    inp.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter') return;
      ev.preventDefault();
      if (!ok.disabled) ok.click();
    });
  }
  dlg.returnValue = '';
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
  });
}

/** Copy text to the clipboard; falls back to selecting a node. */
export async function copyText(text, node) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to clipboard', 'ok');
  } catch {
    if (node) {
      const r = document.createRange();
      r.selectNodeContents(node);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      toast('Press Ctrl+C to copy the selected text');
    }
  }
}

/** A button that runs an async action, disabled while it runs; errors toast. */
export function actionButton(label, fn, cls = 'btn') {
  const b = h('button', { type: 'button', class: cls, text: label });
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await fn(b); } catch (e) { toast(e.message || String(e), 'bad'); } finally { b.disabled = false; }
  });
  return b;
}

/** Rows sorted by the column state.key names (state.dir asc|desc); empty values last. */
export function sortRows(columns, rows, state) {
  const col = columns.find((c) => c.key === state.key && c.sort);
  if (!col) return rows;
  return rows.slice().sort((a, b) => {
    const x = col.sort(a), y = col.sort(b);
    const r = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
    return state.dir === 'asc' ? r : -r;
  });
}

/** Sortable table helper: columns [{key,label,sort:(row)=>value,render:(row)=>node,cls}]. */
export function sortableTable(columns, rows, state, onSort, caption, limit = Infinity) {
  const head = h('tr', null, columns.map((c) => {
    if (!c.sort) return h('th', { scope: 'col', class: c.cls, text: c.label });
    const dir = state.key === c.key ? state.dir : null;
    const btn = h('button', { type: 'button', class: 'sort', text: c.label + (dir ? (dir === 'asc' ? ' ▲' : ' ▼') : '') });
    btn.addEventListener('click', () => onSort(c.key));
    return h('th', { scope: 'col', class: c.cls, 'aria-sort': dir ? (dir === 'asc' ? 'ascending' : 'descending') : 'none' }, btn);
  }));
  rows = sortRows(columns, rows, state);
  if (rows.length > limit) rows = rows.slice(0, limit);
  const body = h('tbody', null, rows.map((r) => h('tr', { 'data-id': r.id }, columns.map((c) => h('td', { class: c.cls, 'data-label': c.label }, c.render(r))))));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, caption ? h('caption', { class: 'sr-only', text: caption }) : null, h('thead', null, head), body));
}

export function tabs(items, active, hrefFor) {
  return h('nav', { class: 'tabs', 'aria-label': 'Sections' }, items.map(([key, label]) =>
    h('a', { href: hrefFor(key), class: key === active ? 'active' : undefined, 'aria-current': key === active ? 'page' : undefined, text: label })));
}

// ---- keeping keyboard focus across live redraws -----------------------------
// A redraw replaces a region's nodes, which drops the focus to <body>.  The
// focused control is remembered by a stable key (its row's data-key, its own
// data-key, tag and accessible name or href) and the matching control of the
// new nodes gets the focus back.

const FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]';

function focusKeyOf(el) {
  const row = el.closest('[data-key]');
  const name = el.getAttribute('data-key') || el.getAttribute('aria-label') || el.getAttribute('href') || el.getAttribute('name') || (el.textContent || '').trim();
  return [row && row !== el ? row.getAttribute('data-key') : '', el.tagName, el.type || '', name].join('\u0001');
}

/** The key of the focused element when it lies inside region, else null. */
export function focusKey(region) {
  const a = document.activeElement;
  return a && a !== region && region.contains(a) ? focusKeyOf(a) : null;
}

/** Re-focus the control of region whose key is key, when the focus was lost
 *  (it is on <body> or on a removed node); true when it did. */
export function restoreFocus(region, key) {
  if (!key) return false;
  const a = document.activeElement;
  if (a && a !== document.body && a.isConnected) return false;
  const all = [...region.querySelectorAll(FOCUSABLE)].filter((el) => !el.disabled && !el.hidden);
  let el = all.find((x) => focusKeyOf(x) === key);
  // The control itself is gone (e.g. a finished job lost its Cancel button):
  // fall back to the first control of the same row.
  const row = key.split('\u0001')[0];
  if (!el && row) el = all.find((x) => { const r = x.closest('[data-key]'); return r && r !== x && r.getAttribute('data-key') === row; });
  if (!el) return false;
  el.focus({ preventScroll: true });
  return true;
}

/** Run redraw() (sync or async) on region, keeping the keyboard focus. */
export async function keepFocus(region, redraw) {
  const key = focusKey(region);
  try { return await redraw(); } finally { restoreFocus(region, key); }
}
