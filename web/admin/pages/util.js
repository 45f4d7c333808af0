// Helpers shared by the dashboard's products, customers and campaigns views:
// a small DOM builder (text always goes in as text, never as markup), the
// loading / empty / error states, a Relay pager, dates, badges and the
// subscription connection indicator.

/** Adds pages.css once, next to this folder (the shell may link it already). */
export function ensureStyles() {
  if (document.querySelector('link[data-pages-css], link[href$="pages.css"]')) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('../pages.css', import.meta.url).href;
  link.dataset.pagesCss = '';
  document.head.append(link);
}

/**
 * h('a', { href, class: 'x', dataset: { testid: 'y' }, on: { click } }, 'text', child…)
 * Strings become text nodes; null, undefined and false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces el's content. */
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A polite loading message. */
export function loadingState(text = 'Loading…') {
  return h('div', { class: 'pg-state pg-loading', role: 'status' }, h('span', { class: 'pg-spinner', 'aria-hidden': 'true' }), text);
}

/** An empty state: a title and an optional hint. */
export function emptyState(title, hint) {
  return h('div', { class: 'pg-state pg-empty' }, h('p', { class: 'pg-state-title' }, title), hint ? h('p', { class: 'pg-state-hint' }, hint) : null);
}

/** An error state with the server's message and a retry button. */
export function errorState(err, retry) {
  return h(
    'div',
    { class: 'pg-state pg-error', role: 'alert' },
    h('p', { class: 'pg-state-title' }, 'Something went wrong'),
    h('p', { class: 'pg-state-hint' }, errorMessage(err)),
    retry ? h('button', { type: 'button', class: 'pg-btn', on: { click: retry } }, 'Try again') : null,
  );
}

/** The text to show for an error (GraphQL errors carry the server's message). */
export function errorMessage(err) {
  if (!err) return 'Unknown error';
  if (err.code === 'NOT_FOUND') return err.message || 'Not found.';
  if (err.code === 'FORBIDDEN') return `You do not have access: ${err.message}`;
  return err.message || String(err);
}

/** userErrors as a list (role=alert), or null without any. */
export function userErrorsBox(userErrors) {
  if (!userErrors?.length) return null;
  return h(
    'div',
    { class: 'pg-usererrors', role: 'alert' },
    h('ul', {}, userErrors.map((u) => h('li', {}, u.message, u.code ? h('span', { class: 'pg-code' }, ` (${u.code})`) : null))),
  );
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

/** A <time> element for an ISO timestamp ('—' when null). */
export function timeEl(iso, style = 'datetime') {
  if (!iso) return h('span', { class: 'pg-muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, String(iso));
  const fmt = style === 'date' ? dateOnly : style === 'time' ? timeOnly : dateTime;
  return h('time', { datetime: d.toISOString(), title: dateTime.format(d) }, fmt.format(d));
}

const number = new Intl.NumberFormat();
export function fmtNumber(n) {
  return n === null || n === undefined ? '—' : number.format(n);
}

/** A status badge: kind picks the colour (ok, warn, bad, info, muted). */
export function badge(text, kind = 'muted') {
  return h('span', { class: `pg-badge pg-badge-${kind}` }, humanize(text));
}

/** SOME_ENUM_VALUE or some_event → "Some enum value". */
export function humanize(s) {
  const t = String(s ?? '').replace(/[_.]+/g, ' ').trim().toLowerCase();
  return t ? t[0].toUpperCase() + t.slice(1) : '';
}

/** Calls fn after ms without another call. */
export function debounce(fn, ms) {
  let t;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

/**
 * A Relay pager: Previous / Next buttons and a summary.
 * onPage({ first, after } | { last, before }).
 */
export function pager({ pageInfo, totalCount, shown, pageSize, label, onPage }) {
  const prev = h('button', {
    type: 'button',
    class: 'pg-btn',
    disabled: !pageInfo?.hasPreviousPage,
    on: { click: () => onPage({ last: pageSize, before: pageInfo.startCursor }) },
  }, '← Previous');
  const next = h('button', {
    type: 'button',
    class: 'pg-btn',
    disabled: !pageInfo?.hasNextPage,
    on: { click: () => onPage({ first: pageSize, after: pageInfo.endCursor }) },
  }, 'Next →');
  const summary = h('span', { class: 'pg-pager-summary' }, `${fmtNumber(shown)} shown of ${fmtNumber(totalCount)} ${label}`);
  return h('nav', { class: 'pg-pager', 'aria-label': `${label} pages` }, prev, summary, next);
}

/**
 * A small live-connection indicator that follows client.onStatus.
 * Returns { el, stop }.
 */
export function connectionIndicator(client) {
  const text = h('span', {});
  const el = h('span', { class: 'pg-conn', role: 'status' }, h('span', { class: 'pg-conn-dot', 'aria-hidden': 'true' }), text);
  const show = (s) => {
    const labels = {
      idle: 'Live updates off',
      connecting: 'Connecting…',
      connected: 'Live',
      reconnecting: 'Reconnecting…',
      closed: 'Disconnected',
    };
    el.dataset.state = s;
    text.textContent = labels[s] || s;
  };
  show(client.status || 'connecting');
  const stop = typeof client.onStatus === 'function' ? client.onStatus(show) : () => {};
  return { el, stop };
}

/** A titled section of a view. */
export function section(title, attrs = {}, ...children) {
  const id = `pg-h-${Math.random().toString(36).slice(2, 9)}`;
  return h('section', { class: 'pg-section', 'aria-labelledby': id, ...attrs }, h('h2', { id, class: 'pg-h2' }, title), ...children);
}

/** A definition list from [label, value] pairs (null values skipped). */
export function dl(pairs) {
  return h(
    'dl',
    { class: 'pg-dl' },
    pairs.filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => h('div', { class: 'pg-dl-row' }, h('dt', {}, k), h('dd', {}, v))),
  );
}

/** Runs only the latest of overlapping loads: guard() is false once a newer one started or the view is gone. */
export function latest() {
  let seq = 0;
  let disposed = false;
  return {
    next() {
      const mine = ++seq;
      return () => !disposed && mine === seq;
    },
    dispose() {
      disposed = true;
    },
    get disposed() {
      return disposed;
    },
  };
}
