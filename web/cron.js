// cron.js — a short English description of a 5-field cron expression
// ("minute hour day-of-month month day-of-week"), for the schedule editor.
// It only describes; the server parses and computes next runs.
const DOW = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MON = ['', 'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const MACROS = { '@hourly': '0 * * * *', '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@weekly': '0 0 * * 0', '@monthly': '0 0 1 * *', '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *' };

function list(field, names) {
  return field.split(',').map((part) => {
    const [range, step] = part.split('/');
    const [a, b] = range.split('-');
    const nm = (x) => (names && /^\d+$/.test(x) ? names[Number(x)] || x : x);
    let s = range === '*' ? 'every' : b !== undefined ? `${nm(a)} to ${nm(b)}` : nm(a);
    if (step) s = range === '*' ? `every ${step}` : `${s} every ${step}`;
    return s;
  }).join(', ');
}

const pad = (x) => String(x).padStart(2, '0');

export function describeCron(expr) {
  let e = String(expr || '').trim();
  if (MACROS[e]) e = MACROS[e];
  const f = e.split(/\s+/);
  if (f.length !== 5) return 'Enter five fields: minute hour day month weekday.';
  const [mi, ho, dom, mon, dow] = f;
  if (!f.every((x) => /^[\d*,\/-]+$/.test(x) || /^[A-Za-z,-]+$/.test(x))) return 'Not a valid cron expression.';
  let time;
  if (/^\d+$/.test(mi) && /^\d+$/.test(ho)) time = `at ${pad(ho)}:${pad(mi)}`;
  else if (/^\d+$/.test(mi) && ho === '*') time = `every hour at minute ${mi}`;
  else if (mi.startsWith('*/') && ho === '*') time = `every ${mi.slice(2)} minutes`;
  else if (/^\d+$/.test(mi) && ho.includes('/')) time = `at minute ${mi} of hour ${list(ho)}`;
  else if (/^\d+$/.test(mi)) time = `at minute ${mi} past hour ${list(ho)}`;
  else time = `at minute ${list(mi)} of hour ${list(ho)}`;
  const parts = [time];
  if (dom !== '*') parts.push(`on day ${list(dom)} of the month`);
  if (mon !== '*') parts.push(`in ${list(mon, MON)}`);
  if (dow !== '*') parts.push(`on ${list(dow, DOW)}`);
  if (dom === '*' && dow === '*' && !/^every/.test(time)) parts.push('every day');
  const s = parts.join(' ');
  return s.charAt(0).toUpperCase() + s.slice(1) + '.';
}
