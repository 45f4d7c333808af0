// The product grid (#/ and #/search?q=…): search, category filter, price
// range, sort, "in stock only", and cursor paging with "Load more".
//
// The filters live in the hash's query string, so a filtered grid can be
// bookmarked and the browser's back button restores it.

import { gql } from '../api.js';
import { CATEGORIES, PRODUCTS } from '../operations.js';
import { esc, main, loading, errorBox, empty, describe, priceRange, image, title, focusHeading } from '../ui.js';

const PAGE_SIZE = 24;

let categoriesPromise = null;
/** The category tree, flattened for a <select> (children indented). Fetched once. */
function categories() {
  categoriesPromise ??= gql(CATEGORIES).then((d) => {
    const out = [];
    for (const { node } of d.categories.edges) {
      out.push({ id: node.id, name: node.name, depth: 0 });
      for (const { node: child } of node.children.edges) out.push({ id: child.id, name: child.name, depth: 1 });
    }
    return out;
  });
  categoriesPromise.catch(() => (categoriesPromise = null));
  return categoriesPromise;
}

const SORTS = {
  title: { label: 'Name, A–Z', sortKey: 'TITLE', reverse: false },
  'price-asc': { label: 'Price, low to high', sortKey: 'PRICE', reverse: false },
  'price-desc': { label: 'Price, high to low', sortKey: 'PRICE', reverse: true },
  newest: { label: 'Newest', sortKey: 'CREATED_AT', reverse: false },
  relevance: { label: 'Best match', sortKey: 'RELEVANCE', reverse: false },
};

/** Reads the filters from the route's query string. */
function filtersOf(route) {
  const q = route.name === 'search' ? (route.query.get('q') || '').trim() : '';
  let sort = route.query.get('sort') || (q ? 'relevance' : 'title');
  if (!SORTS[sort] || (sort === 'relevance' && !q)) sort = 'title';
  return {
    q,
    category: route.query.get('category') || '',
    min: route.query.get('min') || '',
    max: route.query.get('max') || '',
    sort,
    // Sold-out products are hidden unless asked for, so the first card
    // of the grid can always be bought.
    all: route.query.get('all') === '1',
  };
}

/** The hash of a grid with these filters. */
function hashOf(f) {
  const p = new URLSearchParams();
  if (f.q) p.set('q', f.q);
  if (f.category) p.set('category', f.category);
  if (f.min) p.set('min', f.min);
  if (f.max) p.set('max', f.max);
  if (f.sort && f.sort !== (f.q ? 'relevance' : 'title')) p.set('sort', f.sort);
  if (f.all) p.set('all', '1');
  const qs = p.toString();
  return `#/${f.q ? 'search' : ''}${qs ? `?${qs}` : ''}`;
}

/** Whole currency units typed by the shopper → minor units for ProductFilter. */
const toMinor = (v) => (v === '' || Number.isNaN(Number(v)) ? null : Math.round(Number(v) * 100));

/** The GraphQL variables of the grid's query. */
function variablesOf(f, after) {
  const filter = {};
  if (f.category) filter.categoryId = f.category;
  if (toMinor(f.min) != null) filter.priceMin = toMinor(f.min);
  if (toMinor(f.max) != null) filter.priceMax = toMinor(f.max);
  if (!f.all) filter.inStock = true;
  const s = SORTS[f.sort];
  return { query: f.q || null, filter, first: PAGE_SIZE, after: after || null, sortKey: s.sortKey, reverse: s.reverse };
}

function card(p) {
  const href = `#/product/${encodeURIComponent(p.slug)}`;
  return `
    <li class="card" data-testid="product-card">
      <a class="card-link" href="${esc(href)}">
        ${image(p.featuredImage, p.title, 'card-img')}
        <span class="card-title">${esc(p.title)}</span>
      </a>
      ${p.vendor ? `<span class="card-vendor">${esc(p.vendor)}</span>` : ''}
      <span class="card-price">${esc(priceRange(p.priceRange))}</span>
    </li>`;
}

export async function render(route, ctx) {
  const f = filtersOf(route);
  title(f.q ? `Search: ${f.q}` : '', ctx.storefront.storeName);
  const heading = f.q ? `Results for “${esc(f.q)}”` : 'All products';

  main().innerHTML = `
    <h1>${heading}</h1>
    <form class="filters" id="filters" aria-label="Filter products">
      <label>Category
        <select name="category"><option value="">All categories</option></select>
      </label>
      <label>Min price
        <input name="min" type="number" min="0" step="1" inputmode="decimal" value="${esc(f.min)}">
      </label>
      <label>Max price
        <input name="max" type="number" min="0" step="1" inputmode="decimal" value="${esc(f.max)}">
      </label>
      <label>Sort
        <select name="sort">${Object.entries(SORTS)
          .filter(([k]) => k !== 'relevance' || f.q)
          .map(([k, s]) => `<option value="${k}"${k === f.sort ? ' selected' : ''}>${esc(s.label)}</option>`)
          .join('')}</select>
      </label>
      <label class="check"><input name="all" type="checkbox"${f.all ? ' checked' : ''}> Include sold out</label>
      <button class="btn" type="submit">Apply</button>
    </form>
    <p class="result-count" id="result-count" role="status" aria-live="polite"></p>
    <ul class="grid" id="grid" aria-label="Products"></ul>
    <div id="grid-state">${loading('Loading products…')}</div>
    <div class="more"><button type="button" class="btn" id="load-more" hidden>Load more</button></div>`;
  focusHeading();

  const form = document.getElementById('filters');
  const gridEl = document.getElementById('grid');
  const stateEl = document.getElementById('grid-state');
  const countEl = document.getElementById('result-count');
  const more = document.getElementById('load-more');
  let cursor = null;
  let alive = true;

  // Categories fill in when they arrive; a failure leaves "All categories".
  categories()
    .then((cats) => {
      if (!alive) return;
      const sel = form.elements.category;
      for (const c of cats) {
        const o = new Option(`${c.depth ? '— ' : ''}${c.name}`, c.id, false, c.id === f.category);
        sel.add(o);
      }
    })
    .catch((e) => console.warn('categories', e.message));

  // Changing a select or the checkbox applies at once; prices on Apply/Enter.
  const apply = () => {
    const d = new FormData(form);
    location.hash = hashOf({
      q: f.q,
      category: d.get('category') || '',
      min: String(d.get('min') || '').trim(),
      max: String(d.get('max') || '').trim(),
      sort: d.get('sort'),
      all: d.get('all') === 'on',
    });
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });
  form.addEventListener('change', (e) => {
    if (e.target.tagName === 'SELECT' || e.target.type === 'checkbox') apply();
  });

  async function loadPage() {
    more.disabled = true;
    stateEl.innerHTML = loading(cursor ? 'Loading more…' : 'Loading products…');
    try {
      const { products } = await gql(PRODUCTS, variablesOf(f, cursor));
      if (!alive) return;
      stateEl.innerHTML = '';
      gridEl.insertAdjacentHTML('beforeend', products.edges.map((e) => card(e.node)).join(''));
      cursor = products.pageInfo.endCursor;
      more.hidden = !products.pageInfo.hasNextPage;
      more.disabled = false;
      const shown = gridEl.children.length;
      countEl.textContent = `${shown} of ${products.totalCount} product${products.totalCount === 1 ? '' : 's'}`;
      if (products.totalCount === 0) {
        stateEl.innerHTML = f.q
          ? empty(`Nothing matches “${f.q}”. Try another word, or fewer filters.`, 'See all products', '#/')
          : empty('No products match these filters.', 'Clear filters', '#/');
      }
    } catch (e) {
      if (!alive) return;
      stateEl.innerHTML = errorBox({ message: describe(e) }, 'Try again');
      stateEl.querySelector('[data-action=retry]').addEventListener('click', loadPage);
      more.disabled = false;
    }
  }
  more.addEventListener('click', loadPage);
  await loadPage();
  return () => {
    alive = false;
  };
}
