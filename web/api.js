// api.js — the only place that talks to the server: JSON over /api/v1 with the
// session cookie, the CSRF header on writes, uniform errors, and SSE streams.

const CSRF_KEY = 'rm_csrf';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function setCsrf(token) {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}
export function getCsrf() { return sessionStorage.getItem(CSRF_KEY); }

let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

async function errorFrom(resp) {
  let code = 'http_' + resp.status, message = `${resp.status} ${resp.statusText || 'error'}`;
  try {
    const body = await resp.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch { /* not JSON */ }
  if (resp.status === 405) message = 'this server does not support this action yet';
  return new ApiError(resp.status, code, message);
}

async function send(method, path, body, retried) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') {
    const t = getCsrf();
    if (t) headers['X-CSRF-Token'] = t;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let resp;
  try {
    resp = await fetch('/api/v1' + path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach the server (' + (e.message || 'network error') + ')');
  }
  if (resp.ok) {
    if (resp.status === 204) return null;
    const ct = resp.headers.get('Content-Type') || '';
    return ct.includes('json') ? resp.json() : resp.text();
  }
  const err = await errorFrom(resp);
  // A lost CSRF token (new tab, cleared storage): fetch it again once.
  if (resp.status === 403 && /csrf/i.test(err.code) && !retried && method !== 'GET') {
    if (await recoverCsrf()) return send(method, path, body, true);
  }
  if (resp.status === 401 && !path.startsWith('/auth/login') && !path.startsWith('/bootstrap')) onUnauthenticated(err);
  throw err;
}

/** Ask the server for this session's CSRF token again (GET /auth/me). */
export async function recoverCsrf() {
  try {
    const me = await send('GET', '/auth/me', undefined, true);
    const t = me && (me.csrf_token || (me.session && me.session.csrf_token));
    if (t) { setCsrf(t); return true; }
  } catch { /* fall through */ }
  return false;
}

export const api = {
  get: (p) => send('GET', p),
  post: (p, b) => send('POST', p, b === undefined ? {} : b),
  put: (p, b) => send('PUT', p, b),
  patch: (p, b) => send('PATCH', p, b),
  del: (p) => send('DELETE', p),
};

/** Fetch every page of a list endpoint (items + next cursor), up to max items. */
export async function listAll(path, max = 5000) {
  const out = [];
  let next = null;
  for (let guard = 0; guard < 100; guard++) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await api.get(next ? `${path}${sep}cursor=${encodeURIComponent(next)}` : path);
    const items = Array.isArray(r) ? r : (r && r.items) || [];
    out.push(...items);
    next = r && !Array.isArray(r) ? r.next : null;
    if (!next || out.length >= max) break;
  }
  return out;
}

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? '?' + s : '';
}

/**
 * Subscribe to a Server-Sent Events stream.  handlers: {event name: fn(data, ev)}
 * plus optional '*' (any event), onopen, onerror.  EventSource resends
 * Last-Event-ID itself when it reconnects; lastId (e.g. remembered across a
 * page reload) is passed as ?last_event_id= for the first connection.
 * Returns {close()}.
 */
export function stream(path, handlers, lastId) {
  let url = '/api/v1' + path;
  if (lastId) url += (url.includes('?') ? '&' : '?') + 'last_event_id=' + encodeURIComponent(lastId);
  const es = new EventSource(url, { withCredentials: true });
  const seen = new Set(['message']);
  const dispatch = (ev) => {
    let data = ev.data;
    try { data = JSON.parse(ev.data); } catch { /* plain text */ }
    if (handlers.onid && ev.lastEventId) handlers.onid(ev.lastEventId);
    const fn = handlers[ev.type];
    if (fn) fn(data, ev);
    if (handlers['*']) handlers['*'](ev.type, data, ev);
  };
  es.addEventListener('message', dispatch);
  for (const name of Object.keys(handlers)) {
    if (['*', 'onopen', 'onerror', 'onid', 'extraEvents'].includes(name) || seen.has(name)) continue;
    seen.add(name);
    es.addEventListener(name, dispatch);
  }
  for (const name of handlers.extraEvents || []) if (!seen.has(name)) { seen.add(name); es.addEventListener(name, dispatch); }
  if (handlers.onopen) es.addEventListener('open', handlers.onopen);
  es.addEventListener('error', () => { if (handlers.onerror) handlers.onerror(es.readyState); });
  return { close: () => es.close(), source: es };
}
