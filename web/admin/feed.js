// The live order feed (overview and orders views): recent orders from the
// staff `orders` query, then every orderEvents event on top without a
// reload. One item per order: a later event of the same order updates its
// item and moves it to the top. Duplicate events are dropped by eventId.

import { esc, formatMoney } from '/assets/lib/gql.js';

export const RECENT_ORDERS = `query RecentOrders($first: Int!) {
  orders(first: $first, orderBy: { field: PLACED_AT, direction: DESC }) {
    edges { node {
      id orderNumber placedAt email status financialStatus fulfillmentStatus currency totalAmount
      customer { id email }
    } }
  }
}`;

const ORDER_BY_ID = `query FeedOrder($id: ID!) {
  orders(first: 1, where: { id: $id }) {
    edges { node { id email customer { id email } } }
  }
}`;

export const ORDER_MARK_PAID = `mutation OrderMarkPaid($id: ID!) {
  orderMarkPaid(id: $id) {
    order { id orderNumber status financialStatus fulfillmentStatus }
    userErrors { code message }
  }
}`;

/**
 * Records the payment of a MANUAL order; answers the order or null (the
 * error is shown in a toast).
 */
export async function markPaid(ctx, orderId, orderNumber) {
  try {
    const data = await ctx.client.request(ORDER_MARK_PAID, { id: orderId });
    const p = data.orderMarkPaid;
    if (p.userErrors?.length) {
      ctx.toast(`Order #${orderNumber}: ${p.userErrors.map((u) => u.message).join('; ')}`, 'error');
      return null;
    }
    ctx.toast(`Order #${orderNumber} marked paid.`, 'success');
    return p.order;
  } catch (e) {
    ctx.toast(`Order #${orderNumber} could not be marked paid: ${e.message}`, 'error');
    return null;
  }
}

const eventLabels = {
  CREATED: 'New order',
  PAID: 'Paid',
  FULFILLED: 'Fulfilled',
  CANCELLED: 'Cancelled',
  REFUNDED: 'Refunded',
};

/** A status as a badge's text and class. */
export function statusBadge(status) {
  const s = String(status || '').toUpperCase();
  const text = s.replace(/_/g, ' ').toLowerCase();
  return `<span class="badge badge-${esc(s.toLowerCase().replace(/_/g, '-'))}">${esc(text)}</span>`;
}

/** "just now", "5 min ago", "3 h ago", or a date. */
export function relativeTime(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (!Number.isFinite(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
}

export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/**
 * mountFeed(el, ctx, { limit }) renders the feed into el and returns
 * { destroy }. Items carry data-testid=order-feed-item and
 * data-order-number.
 */
export function mountFeed(el, ctx, { limit = 15, title = 'Live orders' } = {}) {
  const { client, orderStream } = ctx;
  el.classList.add('feed');
  el.innerHTML = `
    <div class="panel-head">
      <h2 class="panel-title">${esc(title)}</h2>
      <span class="muted small feed-hint">New orders appear here as they are placed.</span>
    </div>
    <p class="feed-error" role="alert" hidden></p>
    <div class="feed-state state state-loading" role="status"><span class="spinner" aria-hidden="true"></span> Loading recent orders…</div>
    <ol class="feed-list" data-testid="order-feed" aria-live="polite" aria-relevant="additions text" aria-label="${esc(title)}"></ol>`;
  const list = el.querySelector('.feed-list');
  const stateEl = el.querySelector('.feed-state');
  const errEl = el.querySelector('.feed-error');
  const items = new Map(); // orderNumber -> { li, data }
  let destroyed = false;

  function updateState(message, kind) {
    if (message) {
      stateEl.className = `feed-state state state-${kind}`;
      stateEl.innerHTML = message;
      stateEl.hidden = false;
    } else {
      stateEl.hidden = items.size > 0;
      if (items.size === 0) {
        stateEl.className = 'feed-state state state-empty';
        stateEl.innerHTML = '<p><strong>No orders yet.</strong></p><p class="muted">They show up here the moment a customer checks out.</p>';
      }
    }
  }

  function render(li, d) {
    li.dataset.orderNumber = String(d.orderNumber);
    li.dataset.status = d.status || '';
    const who = d.customerEmail || d.email;
    const whoHTML = who
      ? d.customerId
        ? `<a href="#/customers/${encodeURIComponent(d.customerId)}">${esc(who)}</a>`
        : esc(who)
      : '<span class="muted">guest</span>';
    li.innerHTML = `
      <div class="feed-main">
        <span class="feed-number">#${esc(d.orderNumber)}</span>
        ${statusBadge(d.status)}
        <span class="feed-total">${esc(formatMoney(d.total))}</span>
      </div>
      <div class="feed-meta muted small">
        <span class="feed-event">${esc(d.label)}</span> ·
        <span class="feed-who">${whoHTML}</span> ·
        <time datetime="${esc(d.at)}" title="${esc(dateTime(d.at))}">${esc(relativeTime(d.at))}</time>
      </div>
      ${
        d.status === 'PENDING' && d.orderId
          ? `<button type="button" class="btn btn-sm feed-action" data-testid="mark-paid" data-order-id="${esc(d.orderId)}" aria-label="Mark order #${esc(d.orderNumber)} paid">Mark paid</button>`
          : ''
      }`;
  }

  function upsert(d, { top = false, fresh = false } = {}) {
    let entry = items.get(d.orderNumber);
    if (!entry) {
      const li = document.createElement('li');
      li.className = 'feed-item';
      li.dataset.testid = 'order-feed-item';
      entry = { li, data: d };
      items.set(d.orderNumber, entry);
    } else {
      entry.data = { ...entry.data, ...Object.fromEntries(Object.entries(d).filter(([, v]) => v != null)) };
    }
    render(entry.li, entry.data);
    if (top || !entry.li.isConnected) {
      if (top) list.prepend(entry.li);
      else list.append(entry.li);
    }
    if (fresh) {
      entry.li.classList.remove('is-new');
      void entry.li.offsetWidth; // restart the highlight
      entry.li.classList.add('is-new');
    }
    while (items.size > limit) {
      const last = list.lastElementChild;
      if (!last) break;
      items.delete(Number(last.dataset.orderNumber));
      last.remove();
    }
    updateState();
    return entry;
  }

  function fromOrder(o) {
    return {
      orderNumber: o.orderNumber,
      orderId: o.id,
      status: o.status,
      total: { amount: o.totalAmount, currencyCode: o.currency },
      email: o.email,
      customerEmail: o.customer?.email,
      customerId: o.customer?.id,
      at: o.placedAt,
      label: 'Placed',
    };
  }

  async function load() {
    try {
      const data = await client.request(RECENT_ORDERS, { first: limit });
      if (destroyed) return;
      // Keep the live items already shown; add the rest in order.
      for (const { node } of data.orders.edges) {
        if (!items.has(node.orderNumber)) upsert(fromOrder(node));
      }
      const sorted = [...items.values()].sort((a, b) => new Date(b.data.at) - new Date(a.data.at));
      for (const e of sorted) list.append(e.li);
      updateState();
    } catch (e) {
      if (destroyed) return;
      if (items.size === 0) updateState(`<p><strong>Recent orders could not be loaded.</strong></p><p>${esc(e.message)}</p>`, 'error');
      else ctx.toast(`Recent orders: ${e.message}`, 'error');
    }
  }

  async function enrich(orderId, orderNumber) {
    try {
      const data = await client.request(ORDER_BY_ID, { id: orderId });
      const o = data.orders.edges[0]?.node;
      const entry = items.get(orderNumber);
      if (!o || !entry || destroyed) return;
      entry.data = { ...entry.data, email: o.email, customerEmail: o.customer?.email, customerId: o.customer?.id };
      render(entry.li, entry.data);
    } catch {
      /* the item shows without its buyer */
    }
  }

  list.addEventListener('click', async (e) => {
    const btn = e.target.closest('[data-testid=mark-paid]');
    if (!btn) return;
    const li = btn.closest('.feed-item');
    const number = Number(li.dataset.orderNumber);
    btn.disabled = true;
    btn.textContent = 'Marking paid…';
    const order = await markPaid(ctx, btn.dataset.orderId, number);
    if (destroyed) return;
    const entry = items.get(number);
    if (order && entry && entry.data.status === 'PENDING') {
      entry.data = { ...entry.data, status: order.status, label: eventLabels.PAID };
      render(entry.li, entry.data);
      entry.li.tabIndex = -1;
      entry.li.focus({ preventScroll: true });
    } else if (btn.isConnected) {
      btn.disabled = false;
      btn.textContent = 'Mark paid';
    }
  });

  const offEvent = orderStream.onEvent((ev) => {
    const known = items.get(ev.orderNumber);
    upsert(
      {
        orderNumber: ev.orderNumber,
        orderId: ev.orderId,
        status: ev.status,
        total: ev.total,
        at: ev.occurredAt,
        label: eventLabels[ev.type] || ev.type,
      },
      { top: true, fresh: true },
    );
    if (!known?.data.email && !known?.data.customerEmail) enrich(ev.orderId, ev.orderNumber);
  });
  const offResync = orderStream.onResync(load);
  const offError = orderStream.onError((err) => {
    errEl.textContent = err ? `Live updates stopped: ${err.message}. Retrying…` : '';
    errEl.hidden = !err;
  });
  const timer = setInterval(() => {
    for (const { li, data } of items.values()) {
      const t = li.querySelector('time');
      if (t) t.textContent = relativeTime(data.at);
    }
  }, 30000);

  load();

  return {
    reload: load,
    destroy() {
      destroyed = true;
      offEvent();
      offResync();
      offError();
      clearInterval(timer);
    },
  };
}
