// pages_alerts.js — the Alerts page (open / resolved, per host; follows the
// fleet stream) and the admin Notification channels page (webhook, ntfy,
// SMTP: create, edit, delete with confirmation, test button, delivery log).
// Secrets are write-only here as in the API: the form shows "set" and an
// empty field keeps the stored value.
import { api, qs, stream } from './api.js';
import { h, clear, field, badge, fmtTime, ageEl, emptyState, errorBox, loading, toast, confirmDialog, put } from './ui.js';

export const ALERT_KINDS = [
  ['backup_failed', 'Backup failed'],
  ['maintenance_failed', 'Maintenance failed'],
  ['agent_offline', 'Agent offline'],
  ['backup_overdue', 'Backup overdue'],
  ['stale_lock', 'Stale lock'],
];
const KIND_TEXT = Object.fromEntries(ALERT_KINDS);

/** Badge for a host row: "N alerts" linking to the host's open alerts, or null. */
export function alertBadge(host) {
  const n = Number(host && host.open_alerts) || 0;
  if (!n) return null;
  return h('a', { href: `#/alerts?status=open&host=${encodeURIComponent(host.id)}`, class: 'badge-link', title: 'Open alerts of this host' },
    badge('failed', n === 1 ? '1 alert' : `${n} alerts`));
}

export async function pageAlerts(ctx) {
  const main = ctx.main;
  const status = h('select', { name: 'status' }, [['open', 'Open'], ['resolved', 'Resolved'], ['', 'All']].map(([v, t]) =>
    h('option', { value: v, text: t, selected: (ctx.query.get('status') ?? 'open') === v })));
  const host = ctx.query.get('host') || '';
  const box = h('div', null, loading());
  const pager = h('div', { class: 'pager' });
  put(main, h('div', { class: 'page-head' }, h('h1', { text: 'Alerts' })),
    h('p', { class: 'muted', text: 'Alerts open by themselves when a backup or maintenance job fails, an agent goes offline, a backup is overdue (1.5× the schedule interval) or a stale lock is reported, and resolve when the condition clears.' }),
    h('section', { class: 'card' }, h('form', { class: 'filters' }, field('Status', status),
      host ? h('div', { class: 'field end' }, h('span', { class: 'muted', text: `Host ${host} only · ` }), h('a', { href: '#/alerts' + qs({ status: status.value }), text: 'all hosts' })) : null),
    box, pager));
  const cursors = [null];
  let page = 0;
  async function load() {
    try {
      const r = await api.get('/alerts' + qs({ status: status.value, host, limit: 50, cursor: cursors[page] }));
      const items = (r && r.items) || [];
      cursors[page + 1] = r && r.next ? r.next : undefined;
      clear(box);
      if (!items.length) put(box, emptyState(page ? 'No more alerts' : status.value === 'open' ? 'No open alerts' : 'No alerts', status.value === 'open' && !page ? 'Everything looks fine.' : null));
      else put(box, h('div', { class: 'table-wrap' }, h('table', { class: 'table alerts' }, h('caption', { class: 'sr-only', text: 'Alerts' }),
        h('thead', null, h('tr', null, ['Status', 'Host', 'Alert', 'Message', 'Opened', 'Last seen', 'Resolved'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', null, items.map((a) => h('tr', { 'data-id': a.id, 'data-kind': a.kind },
          h('td', { 'data-label': 'Status' }, a.status === 'open' ? badge('failed', 'open') : badge('succeeded', 'resolved')),
          h('td', { 'data-label': 'Host' }, h('a', { href: `#/hosts/${a.host_id}`, text: a.host || `host ${a.host_id}` })),
          h('td', { 'data-label': 'Alert' }, h('strong', { text: KIND_TEXT[a.kind] || a.title || a.kind }), a.subject ? h('span', { class: 'muted', text: ` (${a.subject})` }) : null,
            a.occurrences > 1 ? h('span', { class: 'muted small', text: ` ×${a.occurrences}` }) : null),
          h('td', { 'data-label': 'Message', class: 'details' }, a.message, a.job_id ? [' ', h('a', { href: `#/jobs/${a.job_id}`, text: 'job' })] : null),
          h('td', { 'data-label': 'Opened' }, ageEl(a.opened_at)),
          h('td', { 'data-label': 'Last seen' }, ageEl(a.last_seen_at)),
          h('td', { 'data-label': 'Resolved' }, a.resolved_at ? ageEl(a.resolved_at) : '—')))))));
    } catch (e) { put(clear(box), errorBox(e, 'alerts')); }
    const prev = h('button', { type: 'button', class: 'btn', text: '← Newer', disabled: page === 0 });
    const next = h('button', { type: 'button', class: 'btn', text: 'Older →', disabled: !cursors[page + 1] });
    prev.addEventListener('click', () => { page--; load(); });
    next.addEventListener('click', () => { page++; load(); });
    put(clear(pager), prev, h('span', { class: 'muted', text: `Page ${page + 1}` }), next);
  }
  status.addEventListener('change', () => { cursors.length = 1; page = 0; load(); });
  // Live: an alert opening or resolving reloads the first page (debounced).
  let timer = null;
  const s = stream('/events', { alert: () => { if (page === 0 && !timer) timer = setTimeout(() => { timer = null; load(); }, 300); } });
  ctx.onCleanup(() => { if (timer) clearTimeout(timer); s.close(); });
  await load();
}

// ---- notification channels (admin) ----

const KINDS = {
  webhook: {
    label: 'Webhook',
    fields: [
      ['url', 'URL', 'text', 'POSTs a JSON document; any 2xx answer counts as delivered.'],
      ['token', 'Bearer token (optional)', 'secret', 'Sent as “Authorization: Bearer …”.'],
      ['header_name', 'Secret header name (optional)', 'text', 'e.g. X-Webhook-Secret'],
      ['header_value', 'Secret header value', 'secret', null],
    ],
  },
  ntfy: {
    label: 'ntfy',
    fields: [
      ['server', 'Server URL', 'text', 'e.g. https://ntfy.sh'],
      ['topic', 'Topic', 'text', 'Letters, digits, _ and -'],
      ['token', 'Access token (optional)', 'secret', null],
    ],
  },
  smtp: {
    label: 'E-mail (SMTP)',
    fields: [
      ['host', 'SMTP host', 'text', null],
      ['port', 'Port', 'number', '587 for STARTTLS, 465 for TLS, 25 plain'],
      ['security', 'Security', 'security', null],
      ['username', 'Username (optional)', 'text', null],
      ['password', 'Password', 'secret', null],
      ['from', 'From address', 'text', null],
      ['to', 'To (comma-separated)', 'list', null],
    ],
  },
};

function summary(ch) {
  if (ch.kind === 'webhook') return ch.url || '';
  if (ch.kind === 'ntfy') return `${ch.server || ''} → ${ch.topic || ''}`;
  if (ch.kind === 'smtp') return `${(ch.to || []).join(', ')} via ${ch.host}:${ch.port}`;
  return '';
}

/** The create/edit form.  ch: the channel (edit) or null (create).  onDone(saved). */
function channelForm(ch, onDone, onCancel) {
  const editing = !!ch;
  const kind = h('select', { name: 'kind', disabled: editing }, Object.entries(KINDS).map(([k, v]) => h('option', { value: k, text: v.label, selected: ch && ch.kind === k })));
  const name = h('input', { name: 'name', required: true, maxlength: 64, value: ch ? ch.name : '', autocomplete: 'off' });
  const enabled = h('input', { type: 'checkbox', name: 'enabled', checked: ch ? ch.enabled : true });
  const onResolve = h('input', { type: 'checkbox', name: 'on_resolve', checked: ch ? ch.on_resolve : true });
  const kindBoxes = ALERT_KINDS.map(([k, label]) => {
    const cb = h('input', { type: 'checkbox', value: k, name: 'alert_kind', checked: ch ? (ch.alert_kinds || []).includes(k) : false });
    return h('label', { class: 'check' }, cb, ' ', label);
  });
  const specific = h('div', { class: 'grid3' });
  let inputs = {};
  function drawFields() {
    clear(specific);
    inputs = {};
    for (const [key, label, type, hint] of KINDS[kind.value].fields) {
      let inp;
      if (type === 'security') {
        inp = h('select', { name: key }, [['starttls', 'STARTTLS'], ['tls', 'TLS'], ['none', 'None (plain)']].map(([v, t]) => h('option', { value: v, text: t, selected: ch && ch[key] === v })));
      } else if (type === 'secret') {
        const isSet = ch && ch[key + '_set'];
        inp = h('input', { type: 'password', name: key, autocomplete: 'new-password', placeholder: isSet ? '•••••• (set — leave empty to keep)' : '' });
      } else {
        const v = ch && ch[key] != null ? (Array.isArray(ch[key]) ? ch[key].join(', ') : ch[key]) : (key === 'port' ? 587 : '');
        inp = h('input', { type: type === 'number' ? 'number' : 'text', name: key, value: v, spellcheck: 'false', autocomplete: 'off' });
      }
      inputs[key] = { inp, type };
      const wrap = field(label, inp, hint);
      if (type === 'secret' && ch && ch[key + '_set']) {
        const clr = h('input', { type: 'checkbox', name: key + '_clear' });
        inputs[key].clear = clr;
        put(wrap, h('label', { class: 'check small' }, clr, ' remove the stored value'));
      }
      put(specific, wrap);
    }
  }
  kind.addEventListener('change', drawFields);
  drawFields();
  const save = h('button', { type: 'submit', class: 'btn primary', text: editing ? 'Save channel' : 'Add channel' });
  const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel' });
  cancel.addEventListener('click', onCancel);
  const form = h('form', { class: 'card channel-form', 'aria-label': editing ? `Edit channel ${ch.name}` : 'Add a notification channel' },
    h('h2', { text: editing ? `Edit “${ch.name}”` : 'Add a channel' }),
    h('div', { class: 'grid3' }, field('Name', name), field('Kind', kind)),
    specific,
    h('fieldset', { class: 'kinds' }, h('legend', { text: 'Alert kinds (none checked = every kind)' }), kindBoxes),
    h('div', { class: 'row' }, h('label', { class: 'check' }, enabled, ' Enabled'), ' ', h('label', { class: 'check' }, onResolve, ' Also notify when an alert resolves')),
    h('div', { class: 'actions' }, save, ' ', cancel));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), enabled: enabled.checked, on_resolve: onResolve.checked,
      alert_kinds: kindBoxes.map((l) => l.querySelector('input')).filter((c) => c.checked).map((c) => c.value) };
    if (!editing) body.kind = kind.value;
    for (const [key, { inp, type, clear: clr }] of Object.entries(inputs)) {
      const v = inp.value.trim();
      if (type === 'secret') {
        if (clr && clr.checked) body[key] = null;
        else if (inp.value) body[key] = inp.value;
      } else if (type === 'number') {
        body[key] = v === '' ? null : Number(v);
      } else if (type === 'list') {
        body[key] = v.split(',').map((x) => x.trim()).filter(Boolean);
      } else if (v !== '') {
        body[key] = v;
      } else if (editing && ch[key] != null) {
        body[key] = null;
      }
    }
    save.disabled = true;
    try {
      const saved = editing ? await api.patch(`/notification-channels/${ch.id}`, body) : await api.post('/notification-channels', body);
      toast(editing ? 'Channel saved' : `Channel ${saved.name} added`, 'ok');
      onDone(saved);
    } catch (e) { toast(e.message, 'bad'); } finally { save.disabled = false; }
  });
  setTimeout(() => name.focus(), 0);
  return form;
}

function deliveryLog(ch) {
  const box = h('div', { class: 'deliveries' }, loading());
  (async () => {
    try {
      const r = await api.get(`/notification-channels/${ch.id}/deliveries` + qs({ limit: 20 }));
      const items = (r && r.items) || [];
      clear(box);
      if (!items.length) { put(box, h('p', { class: 'muted', text: 'Nothing sent yet.' })); return; }
      put(box, h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, h('caption', { class: 'sr-only', text: `Deliveries of ${ch.name}` }),
        h('thead', null, h('tr', null, ['Time', 'Event', 'Alert', 'Outcome', 'Attempts', 'Status', 'Error'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', null, items.map((d) => h('tr', { 'data-outcome': d.outcome },
          h('td', { 'data-label': 'Time', title: d.at, text: fmtTime(d.at) }),
          h('td', { 'data-label': 'Event', text: d.event }),
          h('td', { 'data-label': 'Alert', text: d.alert_id ?? '—' }),
          h('td', { 'data-label': 'Outcome' }, badge(d.outcome === 'ok' ? 'succeeded' : 'failed', d.outcome)),
          h('td', { 'data-label': 'Attempts', class: 'num', text: d.attempts }),
          h('td', { 'data-label': 'Status', class: 'num', text: d.status_code ?? '—' }),
          h('td', { 'data-label': 'Error', class: 'small details', text: d.error || '' })))))));
    } catch (e) { put(clear(box), errorBox(e, 'the delivery log')); }
  })();
  return box;
}

export async function pageChannels(ctx) {
  const main = ctx.main;
  const list = h('div', null, loading());
  const formBox = h('div');
  const add = h('button', { type: 'button', class: 'btn primary', text: 'Add channel' });
  put(main, h('div', { class: 'page-head' }, h('h1', { text: 'Notification channels' }), h('div', { class: 'head-actions' }, add)),
    h('p', { class: 'muted', text: 'Where alerts are sent: webhooks, ntfy topics and e-mail. Tokens and passwords are stored sealed and never shown again.' }),
    formBox, h('section', { class: 'card' }, list));
  const closeForm = () => clear(formBox);
  add.addEventListener('click', () => put(clear(formBox), channelForm(null, () => { closeForm(); load(); }, closeForm)));
  async function load() {
    try {
      const r = await api.get('/notification-channels');
      const items = (r && r.items) || [];
      clear(list);
      if (!items.length) { put(list, emptyState('No channels yet', 'Add a webhook, an ntfy topic or an e-mail address to get alerts delivered.')); return; }
      for (const ch of items) {
        const logBox = h('div');
        const test = h('button', { type: 'button', class: 'btn small', text: 'Send test', 'aria-label': `Send a test through ${ch.name}` });
        test.addEventListener('click', async () => {
          test.disabled = true;
          try {
            const res = await api.post(`/notification-channels/${ch.id}/test`);
            if (res.ok) toast(`Test sent through ${ch.name}`, 'ok');
            else toast(`Test through ${ch.name} failed: ${res.error || 'no reason given'}`, 'bad');
            put(clear(logBox), deliveryLog(ch));
          } catch (e) { toast(e.message, 'bad'); } finally { test.disabled = false; }
        });
        const edit = h('button', { type: 'button', class: 'btn small', text: 'Edit', 'aria-label': `Edit ${ch.name}` });
        edit.addEventListener('click', () => put(clear(formBox), channelForm(ch, () => { closeForm(); load(); }, closeForm)));
        const del = h('button', { type: 'button', class: 'btn small danger', text: 'Delete', 'aria-label': `Delete ${ch.name}` });
        del.addEventListener('click', async () => {
          if (!await confirmDialog({ title: `Delete the channel ${ch.name}?`, text: 'Alerts are no longer sent there; its delivery log is deleted too.', ok: 'Delete channel' })) return;
          try { await api.del(`/notification-channels/${ch.id}`); toast('Channel deleted', 'ok'); closeForm(); load(); } catch (e) { toast(e.message, 'bad'); }
        });
        const logToggle = h('button', { type: 'button', class: 'btn small ghost', text: 'Delivery log', 'aria-expanded': 'false' });
        logToggle.addEventListener('click', () => {
          const open = logToggle.getAttribute('aria-expanded') === 'true';
          logToggle.setAttribute('aria-expanded', open ? 'false' : 'true');
          if (open) clear(logBox); else put(clear(logBox), deliveryLog(ch));
        });
        const kinds = (ch.alert_kinds || []).length ? ch.alert_kinds.map((k) => KIND_TEXT[k] || k).join(', ') : 'every alert kind';
        put(list, h('article', { class: 'channel', 'data-id': ch.id },
          h('div', { class: 'channel-head' }, h('h2', { text: ch.name }), ' ', badge(ch.enabled ? 'online' : 'none', ch.enabled ? 'enabled' : 'disabled'), ' ',
            h('span', { class: 'tag', text: KINDS[ch.kind] ? KINDS[ch.kind].label : ch.kind })),
          h('p', { class: 'muted small mono', text: summary(ch) }),
          h('p', { class: 'small', text: `${kinds}; ${ch.on_resolve ? 'on open and resolve' : 'on open only'}` }),
          h('div', { class: 'actions' }, test, ' ', logToggle, ' ', edit, ' ', del), logBox));
      }
    } catch (e) { put(clear(list), errorBox(e, 'notification channels')); }
  }
  await load();
}
