// Civil dates (YYYY-MM-DD) and their midnights in a named time zone, for
// the date ranges the overview asks growthOverview about.

/** Today's date in the time zone, as YYYY-MM-DD. */
export function today(timeZone) {
  return civilDate(new Date(), timeZone);
}

/** The instant's date in the time zone, as YYYY-MM-DD. */
export function civilDate(instant, timeZone) {
  try {
    const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(instant);
    const get = (t) => parts.find((p) => p.type === t).value;
    return `${get('year')}-${get('month')}-${get('day')}`;
  } catch {
    const d = new Date(instant);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  }
}

/** YYYY-MM-DD plus n days. */
export function addDays(date, n) {
  const [y, m, d] = date.split('-').map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return t.toISOString().slice(0, 10);
}

/** Days from a to b (YYYY-MM-DD). */
export function daysBetween(a, b) {
  const pa = a.split('-').map(Number);
  const pb = b.split('-').map(Number);
  return Math.round((Date.UTC(pb[0], pb[1] - 1, pb[2]) - Date.UTC(pa[0], pa[1] - 1, pa[2])) / 86400000);
}

// Milliseconds the zone is ahead of UTC at an instant.
function offset(ms, timeZone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(ms));
  const v = (t) => Number(parts.find((p) => p.type === t).value);
  return Date.UTC(v('year'), v('month') - 1, v('day'), v('hour'), v('minute'), v('second')) - Math.floor(ms / 1000) * 1000;
}

/** The instant (ISO string) of midnight starting the date in the time zone. */
export function midnight(date, timeZone) {
  const [y, m, d] = date.split('-').map(Number);
  const guess = Date.UTC(y, m - 1, d);
  try {
    let t = guess - offset(guess, timeZone);
    t = guess - offset(t, timeZone); // across a DST change
    return new Date(t).toISOString();
  } catch {
    return new Date(y, m - 1, d).toISOString();
  }
}

/** "Nov 1, 2026" for a YYYY-MM-DD. */
export function formatDate(date, opts = { month: 'short', day: 'numeric', year: 'numeric' }) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(undefined, { ...opts, timeZone: 'UTC' });
}
