// #/overview: the GrowthOverview KPI cards for a date range (with the
// previous period of the same length for comparison), daily revenue, best
// sellers and the live order feed. The cards refresh when order events
// arrive (debounced).

import { esc, formatMoney } from '/assets/lib/gql.js';
import { mountFeed } from './feed.js';
import { today, addDays, daysBetween, midnight, formatDate } from './dates.js';

const GROWTH = `query Growth($from: Time!, $to: Time!, $prevFrom: Time!, $prevTo: Time!, $tz: String) {
  current: growthOverview(from: $from, to: $to, timeZone: $tz) {
    from to timeZone currencyCode
    revenue { amount currencyCode }
    grossSales { amount currencyCode }
    refunds { amount currencyCode }
    orders
    averageOrderValue { amount currencyCode }
    newCustomers returningCustomers sessions conversionRate
    topProducts { productId title units revenue { amount currencyCode } }
    daily { date revenue { amount currencyCode } orders newCustomers }
  }
  previous: growthOverview(from: $prevFrom, to: $prevTo, timeZone: $tz) {
    revenue { amount currencyCode }
    orders
    averageOrderValue { amount currencyCode }
    newCustomers
  }
}`;

const RANGE_KEY = 'omnisphere.admin.range';
const PRESETS = [7, 30, 90];
const MAX_DAYS = 366;

const KPIS = [
  { key: 'revenue', testid: 'kpi-revenue', label: 'Revenue', money: true, pick: (g) => g.revenue },
  { key: 'orders', testid: 'kpi-orders', label: 'Orders', money: false, pick: (g) => g.orders },
  { key: 'aov', testid: 'kpi-aov', label: 'Average order value', money: true, pick: (g) => g.averageOrderValue },
  { key: 'newCustomers', testid: 'kpi-new-customers', label: 'New customers', money: false, pick: (g) => g.newCustomers },
];

function loadRange() {
  try {
    const r = JSON.parse(sessionStorage.getItem(RANGE_KEY) || 'null');
    if (r && (PRESETS.includes(r.preset) || (/^\d{4}-\d\d-\d\d$/.test(r.from) && /^\d{4}-\d\d-\d\d$/.test(r.to)))) return r;
  } catch {
    /* default */
  }
  return { preset: 30 };
}

export default async function mount(el, ctx) {
  const { client, merchant, orderStream } = ctx;
  const tz = merchant.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const currency = merchant.defaultCurrency || 'USD';
  let range = loadRange();
  let seq = 0;
  let timer = null;
  let destroyed = false;

  el.innerHTML = `
    <div class="view-head">
      <div>
        <h1>Overview</h1>
        <p class="muted range-caption" id="range-caption"></p>
      </div>
      <form class="range-picker" id="range-form" aria-label="Date range">
        <div class="segmented" role="group" aria-label="Preset ranges">
          ${PRESETS.map((n) => `<button type="button" class="seg" data-preset="${n}" aria-pressed="false">${n} days</button>`).join('')}
          <button type="button" class="seg" data-preset="custom" aria-pressed="false" aria-controls="range-custom" aria-expanded="false">Custom</button>
        </div>
        <div class="range-custom" id="range-custom" hidden>
          <label>From <input type="date" id="range-from" required></label>
          <label>To <input type="date" id="range-to" required></label>
          <button type="submit" class="btn btn-primary btn-sm">Apply</button>
        </div>
      </form>
    </div>
    <p class="form-error range-error" role="alert" hidden></p>
    <div class="overview-grid">
      <div class="overview-main">
        <section class="kpis" aria-label="Key figures" aria-busy="true">
          ${KPIS.map(
            (k) => `<article class="kpi is-loading" data-testid="${k.testid}" data-kpi="${k.key}">
              <h2 class="kpi-label">${esc(k.label)}</h2>
              <p class="kpi-value"><span class="skeleton" aria-hidden="true"></span><span class="visually-hidden">Loading</span></p>
              <p class="kpi-delta muted small">&nbsp;</p>
            </article>`,
          ).join('')}
        </section>
        <p class="kpi-note muted small" id="kpi-note"></p>
        <section class="panel chart-panel" aria-labelledby="chart-title">
          <div class="panel-head"><h2 class="panel-title" id="chart-title">Revenue by day</h2><span class="muted small" id="chart-total"></span></div>
          <div class="chart" id="chart"><div class="state state-loading"><span class="spinner" aria-hidden="true"></span> Loading…</div></div>
        </section>
        <section class="panel" aria-labelledby="top-title">
          <div class="panel-head"><h2 class="panel-title" id="top-title">Best sellers</h2></div>
          <div id="top"><div class="state state-loading"><span class="spinner" aria-hidden="true"></span> Loading…</div></div>
        </section>
      </div>
      <section class="panel overview-feed" id="overview-feed" aria-label="Live order feed"></section>
    </div>`;

  const q = (s) => el.querySelector(s);
  const form = q('#range-form');
  const custom = q('#range-custom');
  const fromInput = q('#range-from');
  const toInput = q('#range-to');
  const rangeError = q('.range-error');

  function currentDates() {
    if (range.preset) {
      const t = today(tz);
      return { from: addDays(t, -(range.preset - 1)), to: t };
    }
    return { from: range.from, to: range.to };
  }

  function syncPicker() {
    for (const b of el.querySelectorAll('.seg')) {
      const on = b.dataset.preset === 'custom' ? !range.preset : Number(b.dataset.preset) === range.preset;
      b.setAttribute('aria-pressed', String(on));
    }
    const { from, to } = currentDates();
    fromInput.value = from;
    toInput.value = to;
    fromInput.max = today(tz);
    toInput.max = today(tz);
    const open = !range.preset || !custom.hidden;
    custom.hidden = !open;
    q('[data-preset=custom]').setAttribute('aria-expanded', String(open));
    const n = daysBetween(from, to) + 1;
    q('#range-caption').textContent = `${formatDate(from)} – ${formatDate(to)} · ${n} day${n === 1 ? '' : 's'} · compared with the ${n} days before`;
  }

  function setRange(r) {
    range = r;
    try {
      sessionStorage.setItem(RANGE_KEY, JSON.stringify(r));
    } catch {
      /* private mode */
    }
    rangeError.hidden = true;
    syncPicker();
    refresh({ loading: true });
  }

  el.querySelector('.segmented').addEventListener('click', (e) => {
    const b = e.target.closest('.seg');
    if (!b) return;
    if (b.dataset.preset === 'custom') {
      custom.hidden = false;
      b.setAttribute('aria-expanded', 'true');
      fromInput.focus();
      return;
    }
    custom.hidden = true;
    setRange({ preset: Number(b.dataset.preset) });
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const from = fromInput.value;
    const to = toInput.value;
    let msg = '';
    if (!from || !to) msg = 'Choose both dates.';
    else if (from > to) msg = 'The start date must be on or before the end date.';
    else if (daysBetween(from, to) + 1 > MAX_DAYS) msg = `Choose at most ${MAX_DAYS} days.`;
    if (msg) {
      rangeError.textContent = msg;
      rangeError.hidden = false;
      return;
    }
    setRange({ from, to });
  });

  function renderKPIs(cur, prev, n) {
    const section = q('.kpis');
    section.setAttribute('aria-busy', 'false');
    for (const k of KPIS) {
      const card = section.querySelector(`[data-kpi="${k.key}"]`);
      const v = k.pick(cur);
      const p = k.pick(prev);
      const raw = k.money ? v.amount : v;
      const before = k.money ? p.amount : p;
      const changed = card.dataset.value !== undefined && card.dataset.value !== String(raw);
      card.dataset.value = String(raw);
      card.classList.remove('is-loading');
      card.querySelector('.kpi-value').textContent = k.money
        ? formatMoney({ amount: v.amount, currencyCode: v.currencyCode || cur.currencyCode || currency })
        : raw.toLocaleString();
      const delta = card.querySelector('.kpi-delta');
      delta.className = 'kpi-delta small';
      const prevText = k.money ? formatMoney({ amount: before, currencyCode: p.currencyCode || currency }) : before.toLocaleString();
      if (before === 0 && raw === 0) {
        delta.classList.add('muted');
        delta.textContent = `Same as the previous ${n} days`;
      } else if (before === 0) {
        delta.classList.add('up');
        delta.textContent = `▲ up from ${prevText}`;
      } else {
        const pct = ((raw - before) / Math.abs(before)) * 100;
        const dir = pct > 0 ? 'up' : pct < 0 ? 'down' : 'flat';
        delta.classList.add(dir);
        const arrow = dir === 'up' ? '▲' : dir === 'down' ? '▼' : '■';
        delta.textContent = `${arrow} ${Math.abs(pct).toFixed(pct !== 0 && Math.abs(pct) < 10 ? 1 : 0)}% vs ${prevText}`;
      }
      delta.title = `Previous ${n} days: ${prevText}`;
      if (changed) {
        card.classList.remove('flash');
        void card.offsetWidth;
        card.classList.add('flash');
      }
    }
    const note = q('#kpi-note');
    const bits = [];
    if (cur.refunds.amount) bits.push(`Revenue is gross sales ${formatMoney(cur.grossSales)} minus refunds ${formatMoney(cur.refunds)}.`);
    bits.push(`${cur.returningCustomers.toLocaleString()} returning customer${cur.returningCustomers === 1 ? '' : 's'}.`);
    if (cur.sessions) bits.push(`Conversion ${(cur.conversionRate * 100).toFixed(1)}% of ${cur.sessions.toLocaleString()} sessions.`);
    bits.push('Orders count when paid.');
    note.textContent = bits.join(' ');
  }

  function renderChart(cur) {
    const chart = q('#chart');
    const days = cur.daily;
    const total = days.reduce((s, d) => s + d.revenue.amount, 0);
    q('#chart-total').textContent = `${formatMoney({ amount: total, currencyCode: cur.currencyCode })} · ${cur.orders.toLocaleString()} orders`;
    if (!days.length || days.every((d) => d.revenue.amount === 0 && d.orders === 0)) {
      chart.innerHTML = '<div class="state state-empty"><p><strong>No sales in this range.</strong></p><p class="muted">Paid orders show up here by day.</p></div>';
      return;
    }
    const max = Math.max(1, ...days.map((d) => d.revenue.amount));
    const W = 600;
    const H = 160;
    const gap = days.length > 60 ? 1 : 2;
    const bw = Math.max(1, W / days.length - gap);
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('class', 'chart-svg');
    svg.setAttribute('role', 'img');
    const best = days.reduce((a, b) => (b.revenue.amount > a.revenue.amount ? b : a));
    svg.setAttribute('aria-label', `Daily revenue from ${formatDate(days[0].date)} to ${formatDate(days[days.length - 1].date)}; best day ${formatDate(best.date)} with ${formatMoney(best.revenue)}.`);
    days.forEach((d, i) => {
      const h = d.revenue.amount > 0 ? Math.max(2, (d.revenue.amount / max) * (H - 4)) : 1;
      const r = document.createElementNS(NS, 'rect');
      r.setAttribute('x', String(i * (W / days.length)));
      r.setAttribute('y', String(H - h));
      r.setAttribute('width', String(bw));
      r.setAttribute('height', String(h));
      r.setAttribute('class', d.revenue.amount > 0 ? 'bar' : 'bar bar-zero');
      const t = document.createElementNS(NS, 'title');
      t.textContent = `${formatDate(d.date)}: ${formatMoney(d.revenue)} · ${d.orders} order${d.orders === 1 ? '' : 's'}`;
      r.append(t);
      svg.append(r);
    });
    chart.replaceChildren(svg);
    const axis = document.createElement('div');
    axis.className = 'chart-axis muted small';
    axis.innerHTML = `<span>${esc(formatDate(days[0].date, { month: 'short', day: 'numeric' }))}</span><span>max ${esc(formatMoney({ amount: max, currencyCode: cur.currencyCode }))}/day</span><span>${esc(formatDate(days[days.length - 1].date, { month: 'short', day: 'numeric' }))}</span>`;
    chart.append(axis);
  }

  function renderTop(cur) {
    const top = q('#top');
    const rows = cur.topProducts.slice(0, 5);
    if (!rows.length) {
      top.innerHTML = '<div class="state state-empty"><p class="muted">No products sold in this range yet.</p></div>';
      return;
    }
    top.innerHTML = `<table class="table table-compact">
      <thead><tr><th scope="col">Product</th><th scope="col" class="num">Units</th><th scope="col" class="num">Revenue</th></tr></thead>
      <tbody>${rows
        .map(
          (p) => `<tr><td>${esc(p.title)}</td><td class="num">${esc(p.units.toLocaleString())}</td><td class="num">${esc(formatMoney(p.revenue))}</td></tr>`,
        )
        .join('')}</tbody></table>`;
  }

  function renderError(e) {
    const section = q('.kpis');
    section.setAttribute('aria-busy', 'false');
    rangeError.textContent = `The figures could not be loaded: ${e.message}`;
    rangeError.hidden = false;
    for (const card of section.querySelectorAll('.kpi.is-loading')) {
      card.classList.remove('is-loading');
      card.querySelector('.kpi-value').textContent = '—';
    }
    if (q('#chart .state-loading')) q('#chart').innerHTML = `<div class="state state-error"><p>${esc(e.message)}</p></div>`;
    if (q('#top .state-loading')) q('#top').innerHTML = `<div class="state state-error"><p>${esc(e.message)}</p></div>`;
  }

  async function refresh({ loading = false } = {}) {
    const my = ++seq;
    const { from, to } = currentDates();
    const n = daysBetween(from, to) + 1;
    const vars = {
      from: midnight(from, tz),
      to: midnight(addDays(to, 1), tz),
      prevFrom: midnight(addDays(from, -n), tz),
      prevTo: midnight(from, tz),
      tz,
    };
    if (loading) {
      q('.kpis').setAttribute('aria-busy', 'true');
      for (const card of el.querySelectorAll('.kpi')) card.classList.add('is-stale');
    }
    try {
      const data = await client.request(GROWTH, vars);
      if (destroyed || my !== seq) return;
      for (const card of el.querySelectorAll('.kpi')) card.classList.remove('is-stale');
      renderKPIs(data.current, data.previous, n);
      renderChart(data.current);
      renderTop(data.current);
      if (!loading) rangeError.hidden = true;
    } catch (e) {
      if (destroyed || my !== seq) return;
      for (const card of el.querySelectorAll('.kpi')) card.classList.remove('is-stale');
      renderError(e);
    }
  }

  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(() => refresh(), 300);
  }

  syncPicker();
  const feed = mountFeed(q('#overview-feed'), ctx, { limit: 12, title: 'Live orders' });
  const offEvent = orderStream.onEvent(refreshSoon);
  const offResync = orderStream.onResync(refreshSoon);
  await refresh({ loading: true });

  return () => {
    destroyed = true;
    clearTimeout(timer);
    offEvent();
    offResync();
    feed.destroy();
  };
}
