// charts.js — small bar charts in plain SVG (no library, nothing inline that
// the CSP would refuse: geometry is in SVG attributes, colours in app.css).
// The plot stretches to its container (preserveAspectRatio="none"); the axis
// labels are ordinary HTML around it so they stay legible at 360 px.
import { h, fmtTime } from './ui.js';

const SVGNS = 'http://www.w3.org/2000/svg';
const MIN_SLOTS = 20;

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A "nice" upper bound for the axis: 1, 2, 2.5 or 5 times a power of ten,
 *  or (binary, for bytes) a power of two. */
export function niceMax(v, binary) {
  if (!(v > 0)) return 1;
  if (binary) return Math.pow(2, Math.ceil(Math.log2(v)));
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * Bar chart of items (oldest first).  opts: title, value(item) → number|null,
 * fmt(number) → text, time(item) → timestamp, status(item) → css class,
 * binary (axis in powers of two, for bytes).  Returns a <figure>.
 */
export function barChart(opts) {
  const items = opts.items;
  const vals = items.map((it) => { const v = Number(opts.value(it)); return Number.isFinite(v) && v >= 0 ? v : null; });
  const known = vals.filter((v) => v !== null);
  const top = niceMax(Math.max(0, ...known), opts.binary);
  // At least MIN_SLOTS bar slots, filled from the right (newest at the right
  // edge), so a few bars do not turn into wide blocks.
  const slots = Math.max(items.length, MIN_SLOTS), off = slots - items.length;
  const W = slots * 10, H = 100;
  const plot = svg('svg', { class: 'chart-svg', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': summary(opts.title, vals, opts.fmt) },
    svg('line', { class: 'grid', x1: 0, x2: W, y1: 0.5, y2: 0.5, 'vector-effect': 'non-scaling-stroke' }),
    svg('line', { class: 'grid', x1: 0, x2: W, y1: H / 2, y2: H / 2, 'vector-effect': 'non-scaling-stroke' }),
    svg('line', { class: 'axis', x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5, 'vector-effect': 'non-scaling-stroke' }));
  items.forEach((it, i) => {
    const v = vals[i];
    const bh = v === null ? 0 : Math.max(v > 0 ? 1.5 : 0.5, (v / top) * H);
    const when = fmtTime(opts.time(it));
    plot.append(svg('rect', { class: `bar ${opts.status ? opts.status(it) || '' : ''}`, x: (off + i) * 10 + 1.5, y: H - bh, width: 7, height: bh },
      svg('title', null, `${when}: ${v === null ? 'no data' : opts.fmt(v)}`)));
  });
  const first = items.length ? fmtTime(opts.time(items[0])) : '';
  const last = items.length ? fmtTime(opts.time(items[items.length - 1])) : '';
  return h('figure', { class: 'chart' },
    h('figcaption', null, opts.title, h('span', { class: 'muted small', text: known.length ? ` — latest ${opts.fmt(known[known.length - 1])}, max ${opts.fmt(Math.max(...known))}` : ' — no data yet' })),
    h('div', { class: 'chart-body' },
      h('div', { class: 'chart-y', 'aria-hidden': 'true' }, h('span', { text: opts.fmt(top) }), h('span', { text: opts.fmt(top / 2) }), h('span', { text: opts.fmt(0) })),
      plot),
    h('div', { class: 'chart-x', 'aria-hidden': 'true' }, off ? [h('span'), h('span', { text: items.length > 1 ? `${first} – ${last}` : last })] : [h('span', { text: first }), h('span', { text: last })]));
}

function summary(title, vals, fmt) {
  const known = vals.filter((v) => v !== null);
  if (!known.length) return `${title}: no data`;
  const avg = known.reduce((a, b) => a + b, 0) / known.length;
  return `${title} of the last ${vals.length} backups: latest ${fmt(known[known.length - 1])}, average ${fmt(avg)}, max ${fmt(Math.max(...known))}`;
}
