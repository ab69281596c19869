// host_config.js — the host page's Sources and Schedules tabs: list, add,
// edit and delete source groups (paths, excludes, retention, retry) and
// schedules (cron with its description and next runs, groups, enabled,
// random delay).  Operators only for changes; deletes and retention confirm.
import { api, listAll } from './api.js';
import { h, clear, field, badge, fmtTime, emptyState, errorBox, toast, confirmDialog, actionButton, put } from './ui.js';
import { hostName } from './hostfields.js';
import { describeCron } from './cron.js';
import { startJob } from './pages_host.js';

function kv(rows) {
  return h('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v]) => [h('dt', { text: k }), h('dd', null, v === null || v === undefined || v === '' ? '—' : v)]));
}

const KEEP = [['keep_last', 'Keep last'], ['keep_hourly', 'Hourly'], ['keep_daily', 'Daily'], ['keep_weekly', 'Weekly'], ['keep_monthly', 'Monthly'], ['keep_yearly', 'Yearly']];
const KEEP_ORDER = [...KEEP.map(([k]) => k), 'keep_within'];

export function retentionText(ret) {
  const parts = Object.entries(ret || {}).filter(([, v]) => v !== null && v !== undefined && v !== 0 && v !== '')
    .sort(([a], [b]) => KEEP_ORDER.indexOf(a) - KEEP_ORDER.indexOf(b))
    .map(([k, v]) => `${k.replace(/^keep_/, '').replace(/_/g, ' ')} ${v}`);
  return parts.length ? 'keep ' + parts.join(', ') : 'keep everything';
}

function linesOf(textarea) { return textarea.value.split('\n').map((s) => s.trim()).filter(Boolean); }

/** The add/edit form of a source group; g = the group being edited or null. */
function groupForm(g, onSave, onCancel) {
  const ret = (g && g.retention) || (g ? {} : { keep_daily: 7, keep_weekly: 4, keep_monthly: 12 });
  const name = h('input', { required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*', maxlength: 64, value: g ? g.name : '', spellcheck: 'false' });
  const paths = h('textarea', { rows: 3, spellcheck: 'false', value: g ? (g.paths || []).join('\n') : '' });
  const excl = h('textarea', { rows: 2, spellcheck: 'false', value: g ? (g.excludes || []).join('\n') : '' });
  const keep = KEEP.map(([k, label]) => [k, h('input', { type: 'number', min: 0, inputmode: 'numeric', value: ret[k] ? String(ret[k]) : '', 'aria-label': `Retention: ${label.toLowerCase()}` }), label]);
  const within = h('input', { value: ret.keep_within || '', placeholder: 'e.g. 30d', spellcheck: 'false', maxlength: 16 });
  const retry = h('input', { type: 'number', min: 0, max: 100, inputmode: 'numeric', value: String(g && g.retry ? g.retry.count : 0) });
  const backoff = h('input', { type: 'number', min: 0, max: 86400, inputmode: 'numeric', value: String(g && g.retry ? g.retry.backoff_seconds : 300) });
  const msg = h('div', { 'aria-live': 'polite' });
  const title = g ? `Edit source group “${g.name}”` : 'Add a source group';
  const form = h('form', { class: 'subcard', 'aria-label': title }, h('h3', { text: title }),
    h('div', { class: 'grid2' }, field('Name (restic tag)', name), field('Paths (one per line)', paths)),
    field('Excludes (one pattern per line)', excl),
    h('fieldset', null, h('legend', { text: 'Retention (empty = not used)' }),
      h('div', { class: 'grid4' }, keep.map(([, el, label]) => field(label, el)), field('Within', within))),
    h('fieldset', null, h('legend', { text: 'Retries of scheduled backups' }),
      h('div', { class: 'grid4' }, field('Retries', retry, 'Also catches up a run missed while the agent was down.'), field('Seconds between', backoff))),
    msg,
    h('div', { class: 'button-row' }, h('button', { type: 'submit', class: 'btn primary', text: g ? 'Save group' : 'Add group' }),
      onCancel ? h('button', { type: 'button', class: 'btn', text: 'Cancel', onclick: onCancel }) : null));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    const retention = {};
    for (const [k, el] of keep) if (el.value !== '') retention[k] = Number(el.value);
    if (within.value.trim()) retention.keep_within = within.value.trim();
    const body = { name: name.value.trim(), paths: linesOf(paths), excludes: linesOf(excl), retention, retry: { count: Number(retry.value || 0), backoff_seconds: Number(backoff.value || 0) } };
    if (!body.name || !body.paths.length) { put(msg, h('div', { class: 'error', role: 'alert', text: 'A group needs a name and at least one path.' })); return; }
    try { await onSave(body); } catch (e) { put(msg, h('div', { class: 'error', role: 'alert', text: e.message })); }
  });
  return form;
}

export async function tabSources(ctx, host, body) {
  let items;
  try { items = await listAll(`/hosts/${host.id}/sources`); } catch (e) { put(clear(body), errorBox(e, 'source groups')); return; }
  if (ctx.stale()) return;
  const reload = () => tabSources(ctx, host, body);
  const op = ctx.can('operator');
  put(clear(body), h('h2', { text: 'Source groups' }), h('p', { class: 'muted', text: 'Each group is backed up as a restic tag with its own paths, excludes and retention.' }));
  if (!items.length) put(body, emptyState('No source groups', 'The default group is created when the host enrols.'));
  for (const s of items) {
    const card = h('article', { class: 'subcard' });
    const view = () => {
      const hooks = s.hooks_set ? ['pre', 'post'].filter((k) => s.hooks_set[k]) : [];
      put(clear(card), h('div', { class: 'section-head' }, h('h3', { text: s.name }),
        op ? h('div', { class: 'button-row' },
          actionButton('Back up this group', () => startJob(ctx, host.id, { kind: 'backup', group: s.name }, 'Backup'), 'btn small'),
          h('button', { type: 'button', class: 'btn small', text: 'Edit', 'aria-label': `Edit group ${s.name}`, onclick: () => { put(clear(card), groupForm(s, save, view)); card.querySelector('input').focus(); } }),
          actionButton('Apply retention', async () => {
            if (!await confirmDialog({ title: `Apply retention to “${s.name}”?`, text: `Snapshots of this group outside its retention policy (${retentionText(s.retention)}) are forgotten. Their data is removed at the next prune.`, ok: 'Forget snapshots' })) return;
            await startJob(ctx, host.id, { kind: 'forget', group: s.name }, 'Forget');
          }, 'btn small'),
          s.name !== 'default' ? actionButton('Delete', async () => {
            if (!await confirmDialog({ title: `Delete source group “${s.name}”?`, text: 'Schedules stop backing it up. Existing snapshots stay in the repository.', ok: 'Delete group' })) return;
            await api.del(`/hosts/${host.id}/sources/${encodeURIComponent(s.name)}`);
            toast('Source group deleted', 'ok');
            reload();
          }, 'btn small danger') : null) : null),
      kv([
        ['Paths', (s.paths || []).map((p) => h('div', { class: 'mono', text: p }))],
        ['Excludes', (s.excludes || []).length ? s.excludes.map((p) => h('div', { class: 'mono', text: p })) : null],
        ['Retention', retentionText(s.retention)],
        ['Retries', s.retry && s.retry.count ? `${s.retry.count}, ${s.retry.backoff_seconds} s apart` : 'none'],
        hooks.length ? ['Hooks', `${hooks.join(' and ')} command set`] : null,
        s.use_fs_snapshot ? ['File-system snapshot', 'yes'] : null,
      ]));
    };
    const save = async (b) => {
      await api.patch(`/hosts/${host.id}/sources/${s.id}`, b);
      toast('Source group saved', 'ok');
      reload();
    };
    view();
    put(body, card);
  }
  if (!op) return;
  put(body, groupForm(null, async (b) => {
    await api.post(`/hosts/${host.id}/sources`, b);
    toast('Source group added', 'ok');
    reload();
  }));
}

export async function tabSchedules(ctx, host, body) {
  let items, meta = {};
  try {
    meta = await api.get(`/hosts/${host.id}/schedules`);
    items = (meta && meta.items) || [];
  } catch (e) { put(clear(body), errorBox(e, 'schedules')); return; }
  if (ctx.stale()) return;
  const op = ctx.can('operator');
  const reload = () => tabSchedules(ctx, host, body);
  put(clear(body), h('h2', { text: 'Schedules' }));
  if (meta.timezone) put(body, h('p', { class: 'muted small', text: `Times are in the host's time zone (${meta.timezone}).` }));
  if (meta.drift) put(body, h('div', { class: 'notice warn', role: 'status', text: `The agent has not confirmed the latest schedule yet (it runs version ${meta.applied_version}, current is ${meta.version}).` }));

  // The add form doubles as the edit form (Edit fills it in).
  const cron = h('input', { required: true, value: '0 2 * * *', spellcheck: 'false' });
  const desc = h('div', { class: 'hint', 'aria-live': 'polite', text: describeCron(cron.value) });
  cron.addEventListener('input', () => { desc.textContent = describeCron(cron.value); });
  const groups = h('input', { value: 'default', spellcheck: 'false' });
  const delay = h('input', { type: 'number', min: 0, max: 86400, inputmode: 'numeric', value: '0' });
  const enabled = h('input', { type: 'checkbox', checked: true });
  const heading = h('h3', { text: 'Add a schedule' });
  const submit = h('button', { type: 'submit', class: 'btn primary', text: 'Add schedule' });
  const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel edit', hidden: true });
  const msg = h('div', { 'aria-live': 'polite' });
  let editing = null;
  const form = h('form', { class: 'subcard' }, heading,
    h('div', { class: 'grid2' }, h('div', null, field('Cron expression (minute hour day month weekday)', cron), desc), field('Source groups (comma-separated)', groups)),
    h('div', { class: 'grid2' }, field('Random delay (seconds, 0–86400)', delay, 'Spreads the start of many hosts.'), h('label', { class: 'check' }, enabled, ' Enabled')),
    msg, h('div', { class: 'button-row' }, submit, cancel));
  const edit = (s) => {
    editing = s;
    cron.value = s.cron; desc.textContent = s.description || describeCron(s.cron);
    groups.value = (s.groups || []).join(', ');
    delay.value = String(s.random_delay_seconds || 0);
    enabled.checked = s.enabled !== false;
    heading.textContent = `Edit schedule “${s.cron}”`;
    submit.textContent = 'Save schedule';
    cancel.hidden = false;
    cron.focus();
  };
  cancel.addEventListener('click', () => reload());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    const b = { cron: cron.value.trim(), groups: groups.value.split(',').map((s) => s.trim()).filter(Boolean), enabled: enabled.checked, random_delay_seconds: Number(delay.value || 0) };
    try {
      if (editing) await api.patch(`/hosts/${host.id}/schedules/${editing.id}`, b);
      else await api.post(`/hosts/${host.id}/schedules`, b);
      toast(editing ? 'Schedule saved' : 'Schedule added', 'ok');
      reload();
    } catch (e) { put(msg, h('div', { class: 'error', role: 'alert', text: e.message })); }
  });

  const toggleButton = (s) => {
    const b = actionButton(s.enabled === false ? 'Enable' : 'Disable', async () => {
      await api.patch(`/hosts/${host.id}/schedules/${s.id}`, { enabled: s.enabled === false });
      toast(s.enabled === false ? 'Schedule enabled' : 'Schedule disabled', 'ok');
      reload();
    }, 'btn small');
    b.setAttribute('aria-label', `${s.enabled === false ? 'Enable' : 'Disable'} schedule ${s.cron}`);
    return b;
  };
  if (!items.length) put(body, emptyState('No schedules', 'Without a schedule this host backs up only when you press “Back up now”.'));
  else put(body, h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, h('caption', { class: 'sr-only', text: 'Schedules' }),
    h('thead', null, h('tr', null, ['When', 'Groups', 'Next runs', 'State', op ? 'Actions' : null].filter(Boolean).map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', null, items.map((s) => h('tr', null,
      h('td', { 'data-label': 'When' }, h('code', { text: s.cron }), h('div', { class: 'muted small', text: s.description || describeCron(s.cron) }),
        s.random_delay_seconds ? h('div', { class: 'muted small', text: `+ up to ${s.random_delay_seconds} s random delay` }) : null),
      h('td', { 'data-label': 'Groups' }, (s.groups || []).map((g) => h('span', { class: 'tag', text: g }))),
      h('td', { 'data-label': 'Next runs' }, s.enabled === false ? '—' : (s.next_runs || []).slice(0, 3).map((t) => h('div', { text: fmtTime(t) }))),
      h('td', { 'data-label': 'State' }, s.enabled === false ? badge('none', 'disabled') : badge('succeeded', 'enabled')),
      op ? h('td', { class: 'actions-cell' },
        h('button', { type: 'button', class: 'btn small', text: 'Edit', 'aria-label': `Edit schedule ${s.cron}`, onclick: () => edit(s) }), ' ',
        toggleButton(s), ' ',
        h('button', { type: 'button', class: 'btn small danger', text: 'Delete', 'aria-label': `Delete schedule ${s.cron}`,
          onclick: async () => {
            if (!await confirmDialog({ title: 'Delete schedule?', text: `“${s.cron}” stops firing on ${hostName(host)}.`, ok: 'Delete' })) return;
            try { await api.del(`/hosts/${host.id}/schedules/${s.id}`); toast('Schedule deleted', 'ok'); reload(); } catch (e) { toast(e.message, 'bad'); }
          } })) : null))))));
  if (op) put(body, form);
}
