// #/customers — the store's customers (search by email or name, sort,
// Relay paging) — and #/customers/<id>, the CustomerDetail view: profile,
// lifetime value, orders, the timeline of tracked events (live through
// customerActivity), segments and consent.

import { formatMoney } from '/assets/lib/gql.js';
import {
  badge,
  connectionIndicator,
  debounce,
  dl,
  emptyState,
  ensureStyles,
  errorState,
  fmtNumber,
  h,
  humanize,
  latest,
  loadingState,
  pager,
  render,
  section,
  timeEl,
} from './util.js';

const PAGE_SIZE = 25;
const ORDERS_PAGE = 10;
const EVENTS_PAGE = 25;

const CUSTOMERS_QUERY = `query AdminCustomers($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: CustomerWhereInput, $orderBy: CustomerOrder) {
  customers(first: $first, after: $after, last: $last, before: $before, where: $where, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { node { id email firstName lastName status emailConsent orderCount lifetimeValueAmount currency lastOrderAt lastSeenAt createdAt } }
  }
}`;

const CUSTOMER_QUERY = `query AdminCustomer($id: ID!, $orders: Int!, $events: Int!) {
  customer(id: $id) {
    id email firstName lastName phone status emailVerified
    emailConsent emailOptInLevel emailConsentSource emailConsentedAt emailUnsubscribedAt
    smsConsent smsConsentedAt
    locale timezone country city tags note source utmSource utmMedium utmCampaign referrer
    createdAt lastLoginAt lastSeenAt firstOrderAt lastOrderAt
    orderCount lifetimeValueAmount averageOrderValueAmount currency
    segmentMemberships { id addedAt source segment { id name kind status } }
    orders(first: $orders) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id orderNumber status financialStatus fulfillmentStatus totalAmount refundedAmount currency placedAt } }
    }
    events(first: $events, orderBy: { field: OCCURRED_AT, direction: DESC }) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id type source occurredAt valueAmount currency pageURL properties } }
    }
  }
}`;

const MORE_ORDERS_QUERY = `query AdminCustomerOrders($id: ID!, $first: Int!, $after: Cursor) {
  customer(id: $id) {
    id
    orders(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id orderNumber status financialStatus fulfillmentStatus totalAmount refundedAmount currency placedAt } }
    }
  }
}`;

const MORE_EVENTS_QUERY = `query AdminCustomerEvents($id: ID!, $first: Int!, $after: Cursor) {
  customer(id: $id) {
    id
    events(first: $first, after: $after, orderBy: { field: OCCURRED_AT, direction: DESC }) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id type source occurredAt valueAmount currency pageURL properties } }
    }
  }
}`;

const SUMMARY_QUERY = `query AdminCustomerSummary($id: ID!) {
  customer(id: $id) { id orderCount lifetimeValueAmount averageOrderValueAmount currency lastOrderAt }
}`;

const ACTIVITY_SUBSCRIPTION = `subscription AdminCustomerActivity {
  customerActivity { eventId occurredAt customerId type properties value { amount currencyCode } }
}`;

const SORTS = {
  newest: { label: 'Newest first', orderBy: { field: 'CREATED_AT', direction: 'DESC' } },
  ltv: { label: 'Lifetime value', orderBy: { field: 'LIFETIME_VALUE', direction: 'DESC' } },
  orders: { label: 'Most orders', orderBy: { field: 'ORDER_COUNT', direction: 'DESC' } },
  lastOrder: { label: 'Last order', orderBy: { field: 'LAST_ORDER_AT', direction: 'DESC' } },
  email: { label: 'Email A–Z', orderBy: { field: 'EMAIL', direction: 'ASC' } },
};

// The list's search, sort and page, kept for the way back from a detail.
const remembered = { query: '', sort: 'newest', page: null };

/** The where filter of a search: every word matches the email, first or last name. */
export function customerWhere(query) {
  const words = query.trim().split(/\s+/).filter(Boolean).slice(0, 5);
  if (!words.length) return null;
  const one = (w) => ({ or: [{ emailContainsFold: w }, { firstNameContainsFold: w }, { lastNameContainsFold: w }] });
  return words.length === 1 ? one(words[0]) : { and: words.map(one) };
}

const money = (amount, currencyCode) => formatMoney({ amount: amount ?? 0, currencyCode: currencyCode || 'USD' });
const fullName = (c) => [c.firstName, c.lastName].filter(Boolean).join(' ');

const ORDER_KIND = {
  PENDING: 'info',
  AUTHORIZED: 'info',
  PAID: 'ok',
  FULFILLED: 'ok',
  DELIVERED: 'ok',
  CANCELLED: 'bad',
  VOIDED: 'bad',
  FAILED: 'bad',
  REFUNDED: 'warn',
  PARTIALLY_REFUNDED: 'warn',
};
const consentKind = (s) => ({ SUBSCRIBED: 'ok', PENDING: 'info', UNSUBSCRIBED: 'muted', NOT_SUBSCRIBED: 'muted', BOUNCED: 'bad', COMPLAINED: 'bad' })[s] || 'muted';
const statusKind = (s) => ({ ACTIVE: 'ok', DISABLED: 'warn', DELETED: 'bad' })[s] || 'muted';

export default async function mount(el, ctx, params = []) {
  ensureStyles();
  if (params[0]) return mountDetail(el, ctx, decodeURIComponent(params[0]));
  return mountList(el, ctx);
}

// The list -----------------------------------------------------------------

function mountList(el, ctx) {
  const { client } = ctx;
  const loads = latest();
  let page = remembered.page || { first: PAGE_SIZE };

  const searchInput = h('input', {
    id: 'pg-customers-q',
    type: 'search',
    name: 'q',
    autocomplete: 'off',
    placeholder: 'Email or name',
    value: remembered.query,
  });
  const sortSelect = h(
    'select',
    { id: 'pg-customers-sort', name: 'sort' },
    Object.entries(SORTS).map(([k, s]) => h('option', { value: k, selected: k === remembered.sort }, s.label)),
  );
  const search = debounce(restart, 350);
  searchInput.addEventListener('input', search);
  sortSelect.addEventListener('change', () => {
    search.cancel();
    restart();
  });
  const form = h(
    'form',
    { class: 'pg-toolbar', role: 'search', on: { submit: (e) => { e.preventDefault(); search.cancel(); restart(); } } },
    h('div', { class: 'pg-field pg-field-grow' }, h('label', { for: 'pg-customers-q' }, 'Search customers'), searchInput),
    h('div', { class: 'pg-field' }, h('label', { for: 'pg-customers-sort' }, 'Sort by'), sortSelect),
    h('button', { type: 'submit', class: 'pg-btn pg-btn-primary' }, 'Search'),
  );
  const results = h('div', { class: 'pg-results', 'aria-busy': 'false' });
  render(el, h('div', { class: 'pg-view pg-customers' }, h('header', { class: 'pg-head' }, h('h1', { class: 'pg-h1' }, 'Customers')), form, results));

  function restart() {
    remembered.query = searchInput.value.trim();
    remembered.sort = sortSelect.value;
    page = { first: PAGE_SIZE };
    load();
  }

  async function load() {
    const current = loads.next();
    remembered.page = page;
    results.setAttribute('aria-busy', 'true');
    if (!results.querySelector('table')) render(results, loadingState('Loading customers…'));
    else results.classList.add('pg-stale');
    try {
      const vars = { ...page, orderBy: (SORTS[remembered.sort] || SORTS.newest).orderBy };
      const where = customerWhere(remembered.query);
      if (where) vars.where = where;
      const data = await client.request(CUSTOMERS_QUERY, vars);
      if (!current()) return;
      show(data.customers);
    } catch (err) {
      if (!current()) return;
      render(results, errorState(err, load));
    } finally {
      if (current()) {
        results.setAttribute('aria-busy', 'false');
        results.classList.remove('pg-stale');
      }
    }
  }

  function show(conn) {
    const customers = conn.edges.map((e) => e.node);
    if (!customers.length) {
      render(
        results,
        remembered.query
          ? emptyState(`No customer matches “${remembered.query}”.`, 'Search by part of an email address, a first or a last name.')
          : emptyState('No customers yet.', 'Shoppers who sign up on the storefront, check out or subscribe through a popup appear here.'),
      );
      return;
    }
    const table = h(
      'table',
      { class: 'pg-table pg-customers-table', dataset: { testid: 'customers-table' } },
      h('caption', { class: 'pg-sr-only' }, 'Customers'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Customer'),
          h('th', { scope: 'col', class: 'pg-num' }, 'Orders'),
          h('th', { scope: 'col', class: 'pg-num' }, 'Lifetime value'),
          h('th', { scope: 'col' }, 'Email marketing'),
          h('th', { scope: 'col' }, 'Last order'),
        ),
      ),
      h('tbody', {}, customers.map(row)),
    );
    render(
      results,
      h('div', { class: 'pg-table-wrap' }, table),
      pager({
        pageInfo: conn.pageInfo,
        totalCount: conn.totalCount,
        shown: customers.length,
        pageSize: PAGE_SIZE,
        label: 'customers',
        onPage: (p) => {
          page = p;
          load();
        },
      }),
    );
  }

  function row(c) {
    const href = `#/customers/${encodeURIComponent(c.id)}`;
    const name = fullName(c);
    const tr = h(
      'tr',
      { class: 'pg-clickable', dataset: { testid: 'customer-row', customerId: c.id } },
      h(
        'td',
        { dataset: { label: 'Customer' } },
        h('a', { href, class: 'pg-row-link' }, name || c.email),
        name ? h('div', { class: 'pg-muted pg-small' }, c.email) : null,
        c.status !== 'ACTIVE' ? badge(c.status, statusKind(c.status)) : null,
      ),
      h('td', { class: 'pg-num', dataset: { label: 'Orders' } }, fmtNumber(c.orderCount)),
      h('td', { class: 'pg-num', dataset: { label: 'Lifetime value' } }, money(c.lifetimeValueAmount, c.currency)),
      h('td', { dataset: { label: 'Email marketing' } }, badge(c.emailConsent, consentKind(c.emailConsent))),
      h('td', { dataset: { label: 'Last order' } }, c.lastOrderAt ? timeEl(c.lastOrderAt, 'date') : h('span', { class: 'pg-muted' }, 'Never')),
    );
    // The whole row opens the detail; the link inside is the keyboard's way.
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a, button') || window.getSelection()?.toString()) return;
      ctx.navigate ? ctx.navigate(href) : (window.location.hash = href);
    });
    return tr;
  }

  load();
  return () => {
    loads.dispose();
    search.cancel();
  };
}

// The detail ---------------------------------------------------------------

function mountDetail(el, ctx, id) {
  const { client } = ctx;
  const loads = latest();
  let customer = null;
  let unsubscribe = () => {};
  let conn = null;
  const seenEvents = new Set();

  const body = h('div', { class: 'pg-detail-body', 'aria-busy': 'true' }, loadingState('Loading customer…'));
  const back = h('a', { href: '#/customers', class: 'pg-back' }, '← Customers');
  render(el, h('div', { class: 'pg-view pg-customer', dataset: { testid: 'customer-detail' } }, h('nav', { 'aria-label': 'Breadcrumb' }, back), body));

  async function load() {
    const current = loads.next();
    body.setAttribute('aria-busy', 'true');
    render(body, loadingState('Loading customer…'));
    try {
      const data = await client.request(CUSTOMER_QUERY, { id, orders: ORDERS_PAGE, events: EVENTS_PAGE });
      if (!current()) return;
      customer = data.customer;
      show();
      startLive();
    } catch (err) {
      if (!current()) return;
      const notFound = err.code === 'NOT_FOUND' || err.code === 'BAD_USER_INPUT' || /not found/i.test(err.message);
      render(
        body,
        notFound
          ? h('div', { class: 'pg-state pg-empty', role: 'alert' }, h('p', { class: 'pg-state-title' }, 'This customer does not exist in your store.'), h('p', {}, h('a', { href: '#/customers' }, 'Back to the customers')))
          : errorState(err, load),
      );
    } finally {
      if (current()) body.setAttribute('aria-busy', 'false');
    }
  }

  // Elements kept to be updated later.
  let timelineList;
  let timelineMore;
  let timelineEmpty;
  let ordersBody;
  let ordersMore;
  let liveSlot;

  function show() {
    const c = customer;
    const name = fullName(c) || c.email;
    const currency = c.currency;

    const kpis = h(
      'div',
      { class: 'pg-kpis' },
      kpi('Lifetime value', money(c.lifetimeValueAmount, currency), { testid: 'customer-ltv', amount: String(c.lifetimeValueAmount), currency }, 'Paid minus refunded, over all orders'),
      kpi('Orders', fmtNumber(c.orderCount), { testid: 'customer-orders-count', count: String(c.orderCount) }, 'Paid orders'),
      kpi('Average order', money(c.averageOrderValueAmount, currency), { kpi: 'aov' }),
      kpi('Last order', c.lastOrderAt ? timeEl(c.lastOrderAt, 'date') : 'Never', { kpi: 'last-order' }),
    );

    const profile = section(
      'Profile',
      {},
      dl([
        ['Email', h('span', {}, h('a', { href: `mailto:${c.email}` }, c.email), c.emailVerified ? h('span', { class: 'pg-muted' }, ' (verified)') : null)],
        ['Phone', c.phone || null],
        ['Location', [c.city, c.country].filter(Boolean).join(', ') || null],
        ['Language', c.locale || null],
        ['Time zone', c.timezone || null],
        ['Customer since', timeEl(c.createdAt, 'date')],
        ['Signed up through', humanize(c.source)],
        ['First touch', [c.utmSource, c.utmMedium, c.utmCampaign].filter(Boolean).join(' / ') || null],
        ['Referrer', c.referrer || null],
        ['Last seen', c.lastSeenAt ? timeEl(c.lastSeenAt) : null],
        ['Last sign-in', c.lastLoginAt ? timeEl(c.lastLoginAt) : null],
        ['First order', c.firstOrderAt ? timeEl(c.firstOrderAt, 'date') : null],
        ['Tags', c.tags?.length ? h('span', { class: 'pg-tags' }, c.tags.map((t) => h('span', { class: 'pg-tag' }, t))) : null],
        ['Note', c.note || null],
      ]),
    );

    const consent = section(
      'Consent',
      { dataset: { testid: 'customer-consent' } },
      dl([
        ['Email marketing', badge(c.emailConsent, consentKind(c.emailConsent))],
        ['Opt-in', humanize(c.emailOptInLevel)],
        ['Consent source', c.emailConsentSource ? humanize(c.emailConsentSource) : null],
        ['Subscribed', c.emailConsentedAt ? timeEl(c.emailConsentedAt) : null],
        ['Unsubscribed', c.emailUnsubscribedAt ? timeEl(c.emailUnsubscribedAt) : null],
        ['SMS marketing', badge(c.smsConsent, consentKind(c.smsConsent))],
        ['SMS changed', c.smsConsentedAt ? timeEl(c.smsConsentedAt) : null],
      ]),
    );

    const memberships = c.segmentMemberships || [];
    const segments = section(
      'Segments',
      { dataset: { testid: 'customer-segments' } },
      memberships.length
        ? h(
            'ul',
            { class: 'pg-chips' },
            memberships.map((m) =>
              h(
                'li',
                { class: 'pg-chip', dataset: { segmentId: m.segment?.id } },
                h('strong', {}, m.segment?.name || 'Segment'),
                h('span', { class: 'pg-muted pg-small' }, ` · ${m.source === 'MANUAL' ? 'added by hand' : 'matches the rules'} since `, timeEl(m.addedAt, 'date')),
              ),
            ),
          )
        : h('p', { class: 'pg-muted' }, 'Not in any segment.'),
    );

    // Orders.
    ordersBody = h('tbody', {});
    ordersMore = h('button', { type: 'button', class: 'pg-btn', on: { click: moreOrders } }, 'Load more orders');
    const orders = c.orders;
    const ordersSection = section(
      `Orders (${fmtNumber(orders.totalCount)})`,
      { dataset: { testid: 'customer-orders' } },
      orders.edges.length
        ? [
            h(
              'div',
              { class: 'pg-table-wrap' },
              h(
                'table',
                { class: 'pg-table pg-orders-table' },
                h('caption', { class: 'pg-sr-only' }, `Orders of ${name}`),
                h(
                  'thead',
                  {},
                  h('tr', {}, h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Placed'), h('th', { scope: 'col' }, 'Payment'), h('th', { scope: 'col' }, 'Fulfilment'), h('th', { scope: 'col', class: 'pg-num' }, 'Total')),
                ),
                ordersBody,
              ),
            ),
            ordersMore,
          ]
        : h('p', { class: 'pg-muted' }, 'No orders yet.'),
    );
    addOrders(orders);

    // Timeline.
    timelineList = h('ol', { class: 'pg-timeline' });
    timelineEmpty = h('p', { class: 'pg-muted' }, 'No tracked events yet. Page views, carts and purchases appear here, live.');
    timelineMore = h('button', { type: 'button', class: 'pg-btn', on: { click: moreEvents } }, 'Load older events');
    liveSlot = h('span', {});
    const timeline = section(
      'Timeline',
      { dataset: { testid: 'customer-timeline' } },
      h('div', { class: 'pg-section-tools' }, liveSlot, h('span', { class: 'pg-muted pg-small' }, `${fmtNumber(c.events.totalCount)} ${c.events.totalCount === 1 ? 'event' : 'events'}`)),
      timelineEmpty,
      h('div', { 'aria-live': 'polite', 'aria-relevant': 'additions' }, timelineList),
      timelineMore,
    );
    addEvents(c.events, false);

    render(
      body,
      h(
        'header',
        { class: 'pg-head pg-customer-head' },
        h('h1', { class: 'pg-h1' }, name),
        h('div', { class: 'pg-head-meta' }, name !== c.email ? h('span', { class: 'pg-muted' }, c.email) : null, badge(c.status, statusKind(c.status))),
      ),
      kpis,
      h('div', { class: 'pg-grid-2' }, profile, h('div', {}, consent, segments)),
      ordersSection,
      timeline,
    );
  }

  // The test hook (dataset) is on the value, so that its text is the figure alone.
  function kpi(label, value, dataset, hint) {
    return h(
      'div',
      { class: 'pg-kpi' },
      h('div', { class: 'pg-kpi-label' }, label),
      h('div', { class: 'pg-kpi-value', dataset: dataset || {} }, value),
      hint ? h('div', { class: 'pg-kpi-hint' }, hint) : null,
    );
  }

  let ordersCursor = null;
  function addOrders(conn) {
    for (const { node: o } of conn.edges) {
      ordersBody.append(
        h(
          'tr',
          { dataset: { orderId: o.id } },
          h('td', { dataset: { label: 'Order' } }, h('strong', {}, `#${o.orderNumber}`)),
          h('td', { dataset: { label: 'Status' } }, badge(o.status, ORDER_KIND[o.status] || 'muted')),
          h('td', { dataset: { label: 'Placed' } }, timeEl(o.placedAt)),
          h('td', { dataset: { label: 'Payment' } }, badge(o.financialStatus, ORDER_KIND[o.financialStatus] || 'muted')),
          h('td', { dataset: { label: 'Fulfilment' } }, badge(o.fulfillmentStatus, o.fulfillmentStatus === 'FULFILLED' ? 'ok' : 'muted')),
          h(
            'td',
            { class: 'pg-num', dataset: { label: 'Total' } },
            money(o.totalAmount, o.currency),
            o.refundedAmount ? h('div', { class: 'pg-muted pg-small' }, `${money(o.refundedAmount, o.currency)} refunded`) : null,
          ),
        ),
      );
    }
    ordersCursor = conn.pageInfo.endCursor;
    ordersMore.hidden = !conn.pageInfo.hasNextPage;
  }

  async function moreOrders() {
    ordersMore.disabled = true;
    ordersMore.textContent = 'Loading…';
    try {
      const data = await client.request(MORE_ORDERS_QUERY, { id, first: ORDERS_PAGE, after: ordersCursor });
      if (loads.disposed) return;
      addOrders(data.customer.orders);
    } catch (err) {
      ctx.toast?.(`Orders: ${err.message}`, 'error');
    } finally {
      ordersMore.disabled = false;
      ordersMore.textContent = 'Load more orders';
    }
  }

  let eventsCursor = null;
  function addEvents(conn) {
    for (const { node } of conn.edges) {
      if (seenEvents.has(node.id)) continue;
      seenEvents.add(node.id);
      timelineList.append(eventItem(node));
    }
    eventsCursor = conn.pageInfo.endCursor;
    timelineMore.hidden = !conn.pageInfo.hasNextPage;
    timelineEmpty.hidden = timelineList.children.length > 0;
  }

  async function moreEvents() {
    timelineMore.disabled = true;
    timelineMore.textContent = 'Loading…';
    try {
      const data = await client.request(MORE_EVENTS_QUERY, { id, first: EVENTS_PAGE, after: eventsCursor });
      if (loads.disposed) return;
      addEvents(data.customer.events);
    } catch (err) {
      ctx.toast?.(`Timeline: ${err.message}`, 'error');
    } finally {
      timelineMore.disabled = false;
      timelineMore.textContent = 'Load older events';
    }
  }

  function eventItem(ev, live = false) {
    const value = ev.value ? formatMoney(ev.value) : ev.valueAmount ? money(ev.valueAmount, ev.currency) : null;
    const props = summarize(ev.properties);
    return h(
      'li',
      { class: ['pg-event', live && 'pg-flash'], dataset: { eventType: ev.type } },
      h('span', { class: 'pg-event-dot', 'aria-hidden': 'true' }),
      h(
        'div',
        { class: 'pg-event-body' },
        h('div', {}, h('strong', {}, humanize(ev.type)), value ? h('span', { class: 'pg-event-value' }, ` · ${value}`) : null, ev.source && ev.source !== 'STOREFRONT' ? h('span', { class: 'pg-muted pg-small' }, ` · ${humanize(ev.source)}`) : null),
        h('div', { class: 'pg-muted pg-small' }, timeEl(ev.occurredAt), ev.pageURL ? ` · ${ev.pageURL}` : null),
        props ? h('div', { class: 'pg-small pg-event-props' }, props) : null,
      ),
    );
  }

  let summaryTimer = null;
  async function refreshSummary() {
    try {
      const data = await client.request(SUMMARY_QUERY, { id });
      const c = data.customer;
      if (loads.disposed || !c) return;
      Object.assign(customer, c);
      const set = (sel, value) => {
        const node = body.querySelector(sel);
        if (node) render(node, value);
        return node;
      };
      const ltv = set('[data-testid=customer-ltv]', money(c.lifetimeValueAmount, c.currency));
      if (ltv) ltv.dataset.amount = String(c.lifetimeValueAmount);
      const count = set('[data-testid=customer-orders-count]', fmtNumber(c.orderCount));
      if (count) count.dataset.count = String(c.orderCount);
      set('[data-kpi=aov]', money(c.averageOrderValueAmount, c.currency));
      set('[data-kpi=last-order]', c.lastOrderAt ? timeEl(c.lastOrderAt, 'date') : 'Never');
    } catch {
      // The figures stay as they were; a reload reads them again.
    }
  }

  function startLive() {
    if (conn) return;
    conn = connectionIndicator(client);
    liveSlot.replaceWith(conn.el);
    unsubscribe = client.subscribe(ACTIVITY_SUBSCRIPTION, {}, {
      next: (data) => {
        const a = data?.customerActivity;
        if (!a || a.customerId !== id || seenEvents.has(a.eventId) || loads.disposed) return;
        seenEvents.add(a.eventId);
        timelineList.prepend(eventItem({ id: a.eventId, type: a.type, occurredAt: a.occurredAt, properties: a.properties, value: a.value }, true));
        timelineEmpty.hidden = true;
        // An order changes the figures: read them again once the burst is over.
        clearTimeout(summaryTimer);
        summaryTimer = setTimeout(refreshSummary, 1500);
      },
      error: (err) => {
        conn.el.dataset.state = 'closed';
        conn.el.lastChild.textContent = `Live timeline stopped: ${err.message}`;
      },
    });
  }

  load();
  return () => {
    loads.dispose();
    clearTimeout(summaryTimer);
    unsubscribe();
    conn?.stop();
  };
}

/** A short text of an event's properties: "title: Cap · quantity: 2". */
function summarize(props) {
  if (!props || typeof props !== 'object') return '';
  const parts = [];
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === '') continue;
    let text = typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (text.length > 60) text = `${text.slice(0, 57)}…`;
    parts.push(`${humanize(k).toLowerCase()}: ${text}`);
    if (parts.length === 6) break;
  }
  return parts.join(' · ');
}
