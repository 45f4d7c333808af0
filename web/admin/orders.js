// #/orders: the store's orders, newest first, a page at a time (Relay
// connection: first/after forward, last/before back), filtered by status.
// Order events update the rows shown and put new orders on top of the first
// page without a reload; the live feed sits beside the table.

import { esc, formatMoney } from '/assets/lib/gql.js';
import { mountFeed, statusBadge, dateTime, markPaid } from './feed.js';

const ORDERS = `query Orders($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: OrderWhereInput) {
  orders(first: $first, after: $after, last: $last, before: $before, where: $where,
         orderBy: { field: PLACED_AT, direction: DESC }) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node {
      id orderNumber placedAt email status financialStatus fulfillmentStatus currency totalAmount paymentProvider
      customer { id email }
    } }
  }
}`;

const PAGE = 20;
const STATUSES = ['PENDING', 'PAID', 'FULFILLED', 'DELIVERED', 'CANCELLED', 'REFUNDED', 'PARTIALLY_REFUNDED'];

export default async function mount(el, ctx) {
  const { client, orderStream } = ctx;
  let page = { first: PAGE }; // the variables of the page shown
  let pageNo = 1;
  let status = '';
  let pageInfo = null;
  let total = 0;
  let seq = 0;
  let destroyed = false;
  const rows = new Map(); // orderNumber -> tr

  el.innerHTML = `
    <div class="view-head">
      <div>
        <h1>Orders</h1>
        <p class="muted" id="orders-count" aria-live="polite"></p>
      </div>
      <div class="toolbar">
        <label class="inline-field">Status
          <select id="orders-status">
            <option value="">All</option>
            ${STATUSES.map((s) => `<option value="${s}">${esc(s.replace(/_/g, ' ').toLowerCase())}</option>`).join('')}
          </select>
        </label>
        <button type="button" class="btn btn-ghost btn-sm" id="orders-refresh">Refresh</button>
      </div>
    </div>
    <div class="orders-grid">
      <section class="panel orders-table-panel" aria-labelledby="orders-table-title">
        <h2 class="visually-hidden" id="orders-table-title">Order list</h2>
        <div id="orders-body"></div>
        <nav class="pager" aria-label="Pages of orders">
          <button type="button" class="btn btn-ghost btn-sm" id="orders-prev" disabled>← Newer</button>
          <span class="muted small" id="orders-page"></span>
          <button type="button" class="btn btn-ghost btn-sm" id="orders-next" disabled>Older →</button>
        </nav>
      </section>
      <section class="panel orders-feed" id="orders-feed" aria-label="Live order feed"></section>
    </div>`;

  const q = (s) => el.querySelector(s);
  const body = q('#orders-body');

  function rowHTML(o) {
    const who = o.customer?.email || o.email;
    const whoHTML = who
      ? o.customer?.id
        ? `<a href="#/customers/${encodeURIComponent(o.customer.id)}">${esc(who)}</a>`
        : esc(who)
      : '<span class="muted">—</span>';
    return `
      <td data-label="Order"><span class="order-number">#${esc(o.orderNumber)}</span></td>
      <td data-label="Date"><time datetime="${esc(o.placedAt)}">${esc(dateTime(o.placedAt))}</time></td>
      <td data-label="Customer" class="cell-email">${whoHTML}</td>
      <td data-label="Status" class="cell-status"><span class="status-cell">${statusBadge(o.status)}
        <span class="muted small sub-status">${esc(String(o.financialStatus || '').replace(/_/g, ' ').toLowerCase())} · ${esc(String(o.fulfillmentStatus || '').replace(/_/g, ' ').toLowerCase())}</span></span></td>
      <td data-label="Total" class="num">${esc(formatMoney({ amount: o.totalAmount, currencyCode: o.currency }))}</td>
      <td data-label="" class="cell-action">${
        o.status === 'PENDING' && o.paymentProvider !== 'STRIPE'
          ? `<button type="button" class="btn btn-sm" data-testid="order-mark-paid" aria-label="Mark order #${esc(o.orderNumber)} paid">Mark paid</button>`
          : ''
      }</td>`;
  }

  function makeRow(o) {
    const tr = document.createElement('tr');
    tr.dataset.orderNumber = String(o.orderNumber);
    tr.dataset.testid = 'order-row';
    tr.innerHTML = rowHTML(o);
    tr._order = o;
    rows.set(o.orderNumber, tr);
    return tr;
  }

  function renderCount() {
    const filter = status ? ` ${status.replace(/_/g, ' ').toLowerCase()}` : '';
    q('#orders-count').textContent = `${total.toLocaleString()}${filter} order${total === 1 ? '' : 's'}`;
    const pages = Math.max(1, Math.ceil(total / PAGE));
    q('#orders-page').textContent = `Page ${Math.min(pageNo, pages)} of ${pages}`;
    q('#orders-prev').disabled = pageNo <= 1;
    q('#orders-next').disabled = !pageInfo?.hasNextPage;
  }

  function renderEmpty() {
    body.innerHTML = status
      ? `<div class="state state-empty"><p><strong>No ${esc(status.replace(/_/g, ' ').toLowerCase())} orders.</strong></p><p><button type="button" class="btn btn-ghost btn-sm" data-clear>Show all orders</button></p></div>`
      : '<div class="state state-empty"><p><strong>No orders yet.</strong></p><p class="muted">Orders placed in your store appear here as they come in.</p></div>';
    body.querySelector('[data-clear]')?.addEventListener('click', () => {
      q('#orders-status').value = '';
      status = '';
      load({ first: PAGE }, 1);
    });
  }

  function renderTable(nodes) {
    rows.clear();
    if (!nodes.length) {
      renderEmpty();
      return;
    }
    const table = document.createElement('table');
    table.className = 'table table-orders';
    table.innerHTML = `<caption class="visually-hidden">Orders, newest first</caption>
      <thead><tr>
        <th scope="col">Order</th><th scope="col">Date</th><th scope="col">Customer</th><th scope="col">Status</th><th scope="col" class="num">Total</th><th scope="col"><span class="visually-hidden">Actions</span></th>
      </tr></thead><tbody></tbody>`;
    const tbody = table.querySelector('tbody');
    for (const o of nodes) tbody.append(makeRow(o));
    body.replaceChildren(table);
  }

  async function load(vars, no) {
    const my = ++seq;
    const busy = body.querySelector('table');
    if (busy) busy.classList.add('is-stale');
    else body.innerHTML = '<div class="state state-loading" role="status"><span class="spinner" aria-hidden="true"></span> Loading orders…</div>';
    body.setAttribute('aria-busy', 'true');
    try {
      const data = await client.request(ORDERS, { ...vars, where: status ? { status } : null });
      if (destroyed || my !== seq) return;
      page = vars;
      pageNo = no;
      pageInfo = data.orders.pageInfo;
      total = data.orders.totalCount;
      renderTable(data.orders.edges.map((e) => e.node));
      renderCount();
    } catch (e) {
      if (destroyed || my !== seq) return;
      body.innerHTML = `<div class="state state-error" role="alert"><p><strong>Orders could not be loaded.</strong></p><p>${esc(e.message)}</p>
        <p><button type="button" class="btn btn-primary btn-sm" data-retry>Retry</button></p></div>`;
      body.querySelector('[data-retry]').addEventListener('click', () => load(vars, no));
    } finally {
      if (!destroyed && my === seq) body.setAttribute('aria-busy', 'false');
    }
  }

  function flash(tr) {
    tr.classList.remove('flash');
    void tr.offsetWidth;
    tr.classList.add('flash');
  }

  function onEvent(ev) {
    const tr = rows.get(ev.orderNumber);
    if (tr) {
      const o = { ...tr._order, status: ev.status, financialStatus: ev.financialStatus, fulfillmentStatus: ev.fulfillmentStatus, totalAmount: ev.total.amount, currency: ev.total.currencyCode };
      tr._order = o;
      tr.innerHTML = rowHTML(o);
      flash(tr);
      return;
    }
    if (ev.type !== 'CREATED' || pageNo !== 1 || (status && status !== ev.status)) {
      if (ev.type === 'CREATED' && (!status || status === ev.status)) {
        total++;
        renderCount();
      }
      return;
    }
    // A new order on the first page: put it on top, fetch its buyer.
    total++;
    const o = {
      id: ev.orderId,
      orderNumber: ev.orderNumber,
      placedAt: ev.occurredAt,
      email: null,
      status: ev.status,
      financialStatus: ev.financialStatus,
      fulfillmentStatus: ev.fulfillmentStatus,
      currency: ev.total.currencyCode,
      totalAmount: ev.total.amount,
      customer: null,
    };
    let tbody = body.querySelector('tbody');
    if (!tbody) {
      renderTable([o]);
      tbody = body.querySelector('tbody');
    } else {
      tbody.prepend(makeRow(o));
      while (tbody.rows.length > PAGE) {
        const last = tbody.rows[tbody.rows.length - 1];
        rows.delete(Number(last.dataset.orderNumber));
        last.remove();
        pageInfo = { ...pageInfo, hasNextPage: true };
      }
    }
    flash(rows.get(o.orderNumber));
    renderCount();
    client
      .request(ORDERS, { first: 1, where: { id: ev.orderId } })
      .then((data) => {
        const full = data.orders.edges[0]?.node;
        const row = rows.get(ev.orderNumber);
        if (!full || !row || destroyed) return;
        row._order = { ...full, status: row._order.status, financialStatus: row._order.financialStatus, fulfillmentStatus: row._order.fulfillmentStatus };
        row.innerHTML = rowHTML(row._order);
      })
      .catch(() => {});
  }

  body.addEventListener('click', async (e) => {
    const btn = e.target.closest('[data-testid=order-mark-paid]');
    if (!btn) return;
    const tr = btn.closest('tr');
    const o = tr._order;
    btn.disabled = true;
    btn.textContent = 'Marking paid…';
    const order = await markPaid(ctx, o.id, o.orderNumber);
    if (destroyed) return;
    if (order && tr._order.status === 'PENDING') {
      tr._order = { ...tr._order, status: order.status, financialStatus: order.financialStatus, fulfillmentStatus: order.fulfillmentStatus };
      tr.innerHTML = rowHTML(tr._order);
      flash(tr);
    } else if (btn.isConnected) {
      btn.disabled = false;
      btn.textContent = 'Mark paid';
    }
  });

  q('#orders-status').addEventListener('change', (e) => {
    status = e.target.value;
    load({ first: PAGE }, 1);
  });
  q('#orders-refresh').addEventListener('click', () => load(page, pageNo));
  q('#orders-next').addEventListener('click', () => {
    if (pageInfo?.endCursor) load({ first: PAGE, after: pageInfo.endCursor }, pageNo + 1);
  });
  q('#orders-prev').addEventListener('click', () => {
    if (pageNo <= 2 || !pageInfo?.startCursor) load({ first: PAGE }, 1);
    else load({ last: PAGE, before: pageInfo.startCursor }, pageNo - 1);
  });

  const feed = mountFeed(q('#orders-feed'), ctx, { limit: 8, title: 'Live activity' });
  const offEvent = orderStream.onEvent(onEvent);
  const offResync = orderStream.onResync(() => load(page, pageNo));
  await load({ first: PAGE }, 1);

  return () => {
    destroyed = true;
    offEvent();
    offResync();
    feed.destroy();
  };
}
