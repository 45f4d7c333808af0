// The demo storefront: boot, the header and the hash router.
//
// Routes (hash, so the server serves one page):
//   #/                      product grid (filters in the query: ?category=&min=&max=&sort=&all=1)
//   #/search?q=…            the same grid with a search
//   #/product/<slug>        product page
//   #/cart                  cart
//   #/checkout              checkout
//   #/order                 confirmation of the order just placed
//   #/account               sign-in / sign-up, then order history
//
// Every view module exports render(route, ctx) and may return a cleanup
// function, called before the next view renders.

import { connect, gql, session, track } from './api.js';
import { STOREFRONT } from './operations.js';
import { loadCart, onCartChange } from './cart.js';
import { esc, main, describe, focusHeading } from './ui.js';
import * as grid from './views/grid.js';
import * as product from './views/product.js';
import * as cartView from './views/cart.js';
import * as checkout from './views/checkout.js';
import * as account from './views/account.js';
import { showPopupsFor, hidePopups } from './popup.js';

const ctx = { store: null, storefront: null };

/** Parses location.hash into { name, param, query, path }. */
function parseRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [pathPart, queryPart = ''] = raw.split('?');
  const segs = pathPart.split('/').filter(Boolean);
  const query = new URLSearchParams(queryPart);
  const name = segs[0] || 'home';
  const param = segs[1] ? decodeURIComponent(segs[1]) : '';
  // The page path popups are targeted at (docs/popups.md): a storefront
  // with real URLs would send location.pathname; here the hash route
  // stands for it ("/", "/search", "/products/<slug>", "/cart" …).
  const path = name === 'home' ? '/' : name === 'product' ? `/products/${param}` : `/${name}`;
  return { name, param, query, path };
}

const views = {
  home: grid,
  search: grid,
  product,
  cart: cartView,
  checkout,
  order: checkout,
  account,
};

let cleanup = null;
let lastPath = null;

async function route() {
  const r = parseRoute();
  const view = views[r.name];
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
  hidePopups();
  markNav(r.name);
  // The header's search box shows the current search.
  const search = document.getElementById('search');
  if (r.name === 'search' && document.activeElement !== search) search.value = r.query.get('q') || '';
  if (r.name === 'home') search.value = '';

  if (!view) {
    main().innerHTML = `<h1>Page not found</h1><p><a href="#/">Back to the shop</a></p>`;
    focusHeading();
    return;
  }
  // A new page (not a filter change on the same one) scrolls to the top.
  if (r.path !== lastPath) window.scrollTo(0, 0);
  const firstOfPage = r.path !== lastPath || r.name === 'product';
  lastPath = r.path;
  if (firstOfPage) track('page_viewed', { properties: { path: r.path, route: location.hash || '#/' } });
  cleanup = await view.render(r, ctx);
  showPopupsFor(r.path);
}

/** Marks the current section in the header nav (aria-current). */
function markNav(name) {
  const section = name === 'search' || name === 'product' ? 'home' : name === 'order' ? 'checkout' : name;
  for (const a of document.querySelectorAll('.site-nav a[data-section]')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** The header's cart link: the count as text and as data-count. */
function renderCartCount(cart) {
  const link = document.querySelector('[data-testid=cart-link]');
  const n = cart?.totalQuantity || 0;
  link.dataset.count = String(n);
  link.querySelector('.count').textContent = String(n);
  link.setAttribute('aria-label', `Cart, ${n} item${n === 1 ? '' : 's'}`);
}

function renderAccountLink() {
  const a = document.querySelector('[data-section=account]');
  a.textContent = session.signedIn ? 'Account' : 'Sign in';
}

/** The search box navigates to #/search?q=… (on submit, and as you type). */
function wireSearch() {
  const form = document.getElementById('search-form');
  const input = document.getElementById('search');
  let timer = null;
  const go = () => {
    const q = input.value.trim();
    const target = q ? `#/search?q=${encodeURIComponent(q)}` : '#/';
    if (location.hash !== target) location.hash = target;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(timer);
    go();
  });
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(go, 400);
  });
}

/** Shown instead of the shop when the server has no store for /store. */
function noStore() {
  main().innerHTML = `
    <section class="state state-error" role="alert">
      <h1>No store to show</h1>
      <p>This server has no store configured for the demo storefront, so <code>/assets/config.json</code> names none.</p>
      <p>Seed the demo store with <code>go run . seed demo</code> (a fresh server with an empty database seeds it by itself),
      or choose an existing store with the <code>WEB_STORE</code> environment variable (its slug) and, optionally,
      <code>WEB_STOREFRONT_KEY</code> (its publishable key). Then restart the server and reload this page.</p>
    </section>`;
}

async function boot() {
  wireSearch();
  onCartChange(renderCartCount);
  session.onChange(renderAccountLink);
  renderAccountLink();
  try {
    ctx.store = await connect();
  } catch (e) {
    main().innerHTML = `<div class="state state-error" role="alert"><p>${esc(e.message)}</p></div>`;
    return;
  }
  if (!ctx.store) {
    noStore();
    return;
  }
  document.querySelector('.brand-name').textContent = ctx.store.name;
  document.title = ctx.store.name;
  try {
    ctx.storefront = (await gql(STOREFRONT)).storefront;
    document.querySelector('.brand-name').textContent = ctx.storefront.storeName;
    const tagline = ctx.storefront.branding?.tagline;
    if (tagline) document.querySelector('.brand-tagline').textContent = tagline;
  } catch (e) {
    // Without the storefront settings nothing else works either (most
    // likely STORE_NOT_PUBLISHED): say why and stop.
    main().innerHTML = `<div class="state state-error" role="alert"><h1>The store cannot be shown</h1><p>${esc(describe(e))}</p></div>`;
    return;
  }
  loadCart().catch((e) => console.warn('cart', e.message));
  window.addEventListener('hashchange', route);
  route();
}

boot();
