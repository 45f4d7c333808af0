// #/products — the catalogue with stock: each product's variants with SKU,
// price and available stock (low-stock variants highlighted), search, a
// status filter, Relay paging, and live low-stock alerts (inventoryAlerts)
// that also update the affected row.

import { formatMoney } from '/assets/lib/gql.js';
import {
  badge,
  connectionIndicator,
  debounce,
  emptyState,
  ensureStyles,
  errorState,
  fmtNumber,
  h,
  latest,
  loadingState,
  pager,
  render,
  timeEl,
} from './util.js';

const PAGE_SIZE = 20;
const MAX_ALERTS = 20;

const VARIANT_FIELDS = `id sku title price currency position trackInventory allowBackorder quantityAvailable`;
const PRODUCT_FIELDS = `id title slug status totalInventory featuredImage { url altText } variants { ${VARIANT_FIELDS} }`;

// The products of a page. Their inventory levels come in a second query
// (LEVELS_QUERY): nested under the products they would multiply the
// query's cost past the server's limit.
const PRODUCTS_QUERY = `query AdminProducts($first: Int, $after: Cursor, $last: Int, $before: Cursor, $query: String, $where: ProductWhereInput) {
  products(first: $first, after: $after, last: $last, before: $before, query: $query, where: $where) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { node { ${PRODUCT_FIELDS} } }
  }
}`;

const LEVELS_QUERY = `query AdminInventoryLevels($variantIds: [ID!]!, $after: Cursor) {
  inventoryLevels(first: 100, after: $after, where: { variantIDIn: $variantIds }) {
    pageInfo { hasNextPage endCursor }
    edges { node { id variantID quantityOnHand quantityReserved quantityAvailable lowStockThreshold warehouse { id name code } } }
  }
}`;

const PRODUCT_QUERY = `query AdminProduct($id: ID!) { product(id: $id) { ${PRODUCT_FIELDS} } }`;

const PRODUCT_TITLE_QUERY = `query AdminProductTitle($id: ID!) { product(id: $id) { id title } }`;

const ALERTS_SUBSCRIPTION = `subscription AdminInventoryAlerts {
  inventoryAlerts { eventId occurredAt variantId productId sku quantityAvailable quantityOnHand threshold }
}`;

// Kept between visits so that coming back shows the same search and filter.
const remembered = { query: '', status: '' };
// Alerts received while this session is open (newest first), kept across visits.
const alerts = [];
const seenAlerts = new Set();

/**
 * Whether a tracked variant's available stock over its warehouses is at or
 * below the sum of their low-stock thresholds — the server's own rule for
 * inventory.low (internal/catalog checkLowStock).
 */
export function stockOf(variant, levels) {
  if (!variant.trackInventory) return { tracked: false, low: false, available: null, threshold: null };
  if (!levels?.length) return { tracked: true, low: false, available: variant.quantityAvailable ?? 0, threshold: null };
  let onHand = 0;
  let reserved = 0;
  let threshold = 0;
  for (const l of levels) {
    onHand += l.quantityOnHand;
    reserved += l.quantityReserved;
    threshold += l.lowStockThreshold;
  }
  const available = onHand - reserved;
  return { tracked: true, low: available <= threshold, available: Math.max(0, available), threshold };
}

export default async function mount(el, ctx) {
  ensureStyles();
  const { client } = ctx;
  const loads = latest();
  const levelsByVariant = new Map(); // variant id → [InventoryLevel]
  const productsById = new Map();
  let page = { first: PAGE_SIZE };

  // Layout ------------------------------------------------------------------
  const searchInput = h('input', {
    id: 'pg-products-q',
    type: 'search',
    name: 'q',
    autocomplete: 'off',
    placeholder: 'Title, tag or SKU',
    value: remembered.query,
  });
  const statusSelect = h(
    'select',
    { id: 'pg-products-status', name: 'status' },
    [
      ['', 'All statuses'],
      ['ACTIVE', 'Active'],
      ['DRAFT', 'Draft'],
      ['ARCHIVED', 'Archived'],
    ].map(([v, t]) => h('option', { value: v, selected: v === remembered.status }, t)),
  );
  const form = h(
    'form',
    { class: 'pg-toolbar', role: 'search', on: { submit: (e) => { e.preventDefault(); search.cancel(); restart(); } } },
    h('div', { class: 'pg-field pg-field-grow' }, h('label', { for: 'pg-products-q' }, 'Search products'), searchInput),
    h('div', { class: 'pg-field' }, h('label', { for: 'pg-products-status' }, 'Status'), statusSelect),
    h('button', { type: 'submit', class: 'pg-btn pg-btn-primary' }, 'Search'),
  );

  const conn = connectionIndicator(client);
  const alertList = h('ul', { class: 'pg-alert-list' });
  const alertEmpty = h('p', { class: 'pg-muted pg-alert-empty' }, 'No low-stock alerts since you opened the dashboard. New ones appear here as stock runs low.');
  const clearBtn = h('button', { type: 'button', class: 'pg-btn pg-btn-small', hidden: true, on: { click: clearAlerts } }, 'Clear alerts');
  const alertsRegion = h(
    'section',
    { class: 'pg-alerts', dataset: { testid: 'inventory-alerts' }, 'aria-labelledby': 'pg-alerts-h' },
    h('div', { class: 'pg-alerts-head' }, h('h2', { id: 'pg-alerts-h', class: 'pg-h2' }, 'Low-stock alerts'), conn.el, clearBtn),
    h('div', { 'aria-live': 'polite', 'aria-relevant': 'additions', class: 'pg-alerts-live' }, alertEmpty, alertList),
  );

  const results = h('div', { class: 'pg-results', 'aria-busy': 'false' });
  render(
    el,
    h('div', { class: 'pg-view pg-products' }, h('header', { class: 'pg-head' }, h('h1', { class: 'pg-h1' }, 'Products')), alertsRegion, form, results),
  );

  // Search as you type (debounced), and at once on submit or filter change.
  const search = debounce(restart, 350);
  searchInput.addEventListener('input', search);
  statusSelect.addEventListener('change', () => {
    search.cancel();
    restart();
  });

  function restart() {
    remembered.query = searchInput.value.trim();
    remembered.status = statusSelect.value;
    page = { first: PAGE_SIZE };
    load();
  }

  // Loading -----------------------------------------------------------------
  async function load() {
    const current = loads.next();
    results.setAttribute('aria-busy', 'true');
    if (!results.querySelector('table')) render(results, loadingState('Loading products…'));
    else results.classList.add('pg-stale');
    try {
      const vars = { ...page };
      if (remembered.query) vars.query = remembered.query;
      if (remembered.status) vars.where = { status: remembered.status };
      const data = await client.request(PRODUCTS_QUERY, vars);
      const conn = data.products;
      const products = conn.edges.map((e) => e.node);
      await loadLevels(products.flatMap((p) => p.variants || []).map((v) => v.id), current);
      if (!current()) return;
      productsById.clear();
      for (const p of products) productsById.set(p.id, p);
      showProducts(conn, products);
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

  async function loadLevels(variantIds, current) {
    if (!variantIds.length) return;
    const found = new Map(variantIds.map((id) => [id, []]));
    let after = null;
    for (let i = 0; i < 20; i++) {
      const data = await client.request(LEVELS_QUERY, { variantIds, after });
      if (!current()) return;
      for (const { node } of data.inventoryLevels.edges) found.get(node.variantID)?.push(node);
      if (!data.inventoryLevels.pageInfo.hasNextPage) break;
      after = data.inventoryLevels.pageInfo.endCursor;
    }
    for (const [id, levels] of found) levelsByVariant.set(id, levels);
  }

  function showProducts(conn, products) {
    if (!products.length) {
      const filtered = remembered.query || remembered.status;
      render(
        results,
        filtered
          ? emptyState('No products match.', 'Try another word, a SKU, or all statuses.')
          : emptyState('No products yet.', 'Products you create through the API or an import appear here.'),
      );
      return;
    }
    const table = h(
      'table',
      { class: 'pg-table pg-products-table', dataset: { testid: 'products-table' } },
      h('caption', { class: 'pg-sr-only' }, 'Products with their variants and stock'),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Variants: SKU, price, stock'), h('th', { scope: 'col', class: 'pg-num' }, 'Available')),
      ),
      h('tbody', {}, products.map(productRow)),
    );
    render(
      results,
      h('div', { class: 'pg-table-wrap' }, table),
      pager({
        pageInfo: conn.pageInfo,
        totalCount: conn.totalCount,
        shown: products.length,
        pageSize: PAGE_SIZE,
        label: 'products',
        onPage: (p) => {
          page = p;
          load();
          el.querySelector('.pg-h1')?.scrollIntoView({ block: 'start' });
        },
      }),
    );
  }

  function productRow(p) {
    const variants = [...(p.variants || [])].sort((a, b) => a.position - b.position);
    const stocks = variants.map((v) => stockOf(v, levelsByVariant.get(v.id)));
    const lowCount = stocks.filter((s) => s.low).length;
    const statusKind = { ACTIVE: 'ok', DRAFT: 'info', ARCHIVED: 'muted' }[p.status] || 'muted';
    const img = p.featuredImage?.url
      ? h('img', { class: 'pg-thumb', src: p.featuredImage.url, alt: '', loading: 'lazy', width: 40, height: 40 })
      : h('span', { class: 'pg-thumb pg-thumb-none', 'aria-hidden': 'true' });
    return h(
      'tr',
      { class: ['pg-product-row', lowCount && 'pg-low'], dataset: { testid: 'product-row', productId: p.id, lowStock: lowCount ? 'true' : 'false' } },
      h(
        'td',
        { dataset: { label: 'Product' } },
        h('div', { class: 'pg-product-title' }, img, h('div', {}, h('strong', {}, p.title), h('div', { class: 'pg-muted pg-small' }, p.slug))),
      ),
      h('td', { dataset: { label: 'Status' } }, h('div', { class: 'pg-badges' }, badge(p.status, statusKind), lowCount ? badge(`${lowCount} low`, 'warn') : null)),
      h('td', { dataset: { label: 'Variants' } }, h('ul', { class: 'pg-variants' }, variants.map((v, i) => variantItem(v, stocks[i])))),
      h('td', { class: 'pg-num', dataset: { label: 'Available' } }, p.totalInventory === null || p.totalInventory === undefined ? '—' : fmtNumber(p.totalInventory)),
    );
  }

  function variantItem(v, s) {
    const price = formatMoney({ amount: v.price, currencyCode: v.currency });
    const levels = levelsByVariant.get(v.id) || [];
    let stock;
    if (!s.tracked) stock = h('span', { class: 'pg-muted' }, 'Not tracked');
    else {
      stock = h(
        'span',
        { class: 'pg-stock' },
        h('strong', {}, fmtNumber(s.available)),
        ' available',
        s.threshold !== null ? h('span', { class: 'pg-muted' }, ` · alert at ${fmtNumber(s.threshold)}`) : null,
        s.low ? h('span', { class: 'pg-badge pg-badge-warn' }, s.available === 0 ? 'Sold out' : 'Low stock') : null,
        v.allowBackorder ? h('span', { class: 'pg-badge pg-badge-info' }, 'Backorder') : null,
      );
    }
    const perWarehouse =
      levels.length > 1
        ? h('div', { class: 'pg-muted pg-small' }, levels.map((l) => `${l.warehouse?.code || l.warehouse?.name}: ${fmtNumber(l.quantityAvailable)}`).join(' · '))
        : null;
    return h(
      'li',
      { class: ['pg-variant', s.low && 'pg-variant-low'], dataset: { variantId: v.id, sku: v.sku, low: s.low ? 'true' : 'false' } },
      h('span', { class: 'pg-variant-name' }, h('code', { class: 'pg-sku' }, v.sku), v.title ? h('span', { class: 'pg-muted' }, ` ${v.title}`) : null),
      h('span', { class: 'pg-variant-price' }, price),
      stock,
      perWarehouse,
    );
  }

  // Live alerts -------------------------------------------------------------
  function showAlerts() {
    render(alertList, alerts.map(alertItem));
    alertEmpty.hidden = alerts.length > 0;
    clearBtn.hidden = alerts.length === 0;
  }

  function alertItem(a) {
    return h(
      'li',
      { class: 'pg-alert', dataset: { eventId: a.eventId, productId: a.productId, variantId: a.variantId } },
      h('span', { class: 'pg-alert-icon', 'aria-hidden': 'true' }, '!'),
      h(
        'span',
        { class: 'pg-alert-text' },
        h('strong', { class: 'pg-alert-product' }, a.productTitle || 'A product'),
        ' — ',
        h('code', { class: 'pg-sku' }, a.sku),
        `: ${fmtNumber(a.quantityAvailable)} available (${fmtNumber(a.quantityOnHand)} on hand), alert at ${fmtNumber(a.threshold)}. `,
        timeEl(a.occurredAt, 'time'),
      ),
      h('button', { type: 'button', class: 'pg-btn pg-btn-small', on: { click: () => showSku(a.sku) } }, h('span', {}, 'Show'), h('span', { class: 'pg-sr-only' }, ` ${a.sku}`)),
    );
  }

  function showSku(sku) {
    searchInput.value = sku;
    statusSelect.value = '';
    search.cancel();
    restart();
    searchInput.focus();
  }

  function clearAlerts() {
    alerts.length = 0;
    showAlerts();
    searchInput.focus();
  }

  const refreshing = new Map(); // product id → timer
  function onAlert(a) {
    if (!a || seenAlerts.has(a.eventId)) return;
    seenAlerts.add(a.eventId);
    a.productTitle = productsById.get(a.productId)?.title || null;
    alerts.unshift(a);
    alerts.length = Math.min(alerts.length, MAX_ALERTS);
    // Only the new item is added, so that screen readers announce just it.
    alertList.prepend(alertItem(a));
    while (alertList.children.length > MAX_ALERTS) alertList.lastElementChild.remove();
    alertEmpty.hidden = true;
    clearBtn.hidden = false;
    if (!a.productTitle) nameAlert(a);
    const row = results.querySelector(`tr[data-product-id="${CSS.escape(a.productId)}"]`);
    if (!row) return;
    // At once from the alert, then exactly from the server.
    const p = productsById.get(a.productId);
    const v = p?.variants?.find((x) => x.id === a.variantId);
    if (v) {
      v.quantityAvailable = a.quantityAvailable;
      markLowFromAlert(row, a);
    }
    clearTimeout(refreshing.get(a.productId));
    refreshing.set(a.productId, setTimeout(() => refreshProduct(a.productId), 300));
  }

  // An alert of a product not on this page: fetch its title for the list.
  async function nameAlert(a) {
    try {
      const data = await client.request(PRODUCT_TITLE_QUERY, { id: a.productId });
      if (loads.disposed || !data.product) return;
      a.productTitle = data.product.title;
      const name = alertList.querySelector(`li[data-event-id="${CSS.escape(a.eventId)}"] .pg-alert-product`);
      if (name) name.textContent = a.productTitle;
    } catch {
      // The alert stays with its SKU.
    }
  }

  function markLowFromAlert(row, a) {
    const li = row.querySelector(`li[data-variant-id="${CSS.escape(a.variantId)}"]`);
    if (!li) return;
    const strong = li.querySelector('.pg-stock strong');
    if (strong) strong.textContent = fmtNumber(a.quantityAvailable);
    li.classList.add('pg-variant-low');
    li.dataset.low = 'true';
    row.classList.add('pg-low', 'pg-flash');
    row.dataset.lowStock = 'true';
  }

  async function refreshProduct(id) {
    refreshing.delete(id);
    if (loads.disposed) return;
    try {
      const data = await client.request(PRODUCT_QUERY, { id });
      const p = data.product;
      if (!p || loads.disposed) return;
      const current = () => !loads.disposed;
      await loadLevels((p.variants || []).map((v) => v.id), current);
      const row = results.querySelector(`tr[data-product-id="${CSS.escape(id)}"]`);
      if (!row || loads.disposed) return;
      productsById.set(id, p);
      const fresh = productRow(p);
      fresh.classList.add('pg-flash');
      row.replaceWith(fresh);
    } catch {
      // The alert already updated the row; the next page load corrects it.
    }
  }

  const unsubscribe = client.subscribe(ALERTS_SUBSCRIPTION, {}, {
    next: (data) => onAlert(data?.inventoryAlerts ? { ...data.inventoryAlerts } : null),
    error: (err) => {
      alertEmpty.hidden = false;
      alertEmpty.textContent = `Live alerts stopped: ${err.message}`;
      alertEmpty.classList.add('pg-error-text');
    },
  });

  showAlerts();
  load();

  return () => {
    loads.dispose();
    search.cancel();
    for (const t of refreshing.values()) clearTimeout(t);
    unsubscribe();
    conn.stop();
  };
}
