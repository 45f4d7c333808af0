// The product page (#/product/<slug>): images, description, the variant
// picker (one <select> per option: the chosen values name one variant),
// price, availability, quantity and "Add to cart".

import { gql, track } from '../api.js';
import { PRODUCT } from '../operations.js';
import { addToCart } from '../cart.js';
import { esc, main, loading, errorBox, describe, money, priceRange, image, title, focusHeading, say } from '../ui.js';

/** The variant whose optionValues are exactly these choices, or undefined. */
function variantFor(product, choices) {
  return product.variants.find((v) =>
    product.options.every((o) => (v.optionValues || {})[o.name] === choices[o.name]),
  );
}

/** Starting choices: those of the first variant that can be bought (else the first). */
function initialChoices(product) {
  const v = product.variants.find((x) => x.available) || product.variants[0];
  return { ...(v?.optionValues || {}) };
}

/** What the shopper is told about stock. */
function availability(variant, showStock) {
  if (!variant) return { text: 'This combination is not sold.', cls: 'out' };
  if (!variant.available) return { text: 'Sold out', cls: 'out' };
  if (showStock && variant.quantityAvailable != null) {
    const n = variant.quantityAvailable;
    return { text: n <= 5 ? `Only ${n} left` : `In stock (${n} available)`, cls: n <= 5 ? 'low' : 'in' };
  }
  return { text: 'In stock', cls: 'in' };
}

export async function render(route, ctx) {
  main().innerHTML = loading('Loading product…');
  let product;
  try {
    product = (await gql(PRODUCT, { slug: route.param })).product;
  } catch (e) {
    main().innerHTML = errorBox({ message: describe(e) }, 'Try again');
    main().querySelector('[data-action=retry]').addEventListener('click', () => render(route, ctx));
    return;
  }
  if (!product) {
    title('Not found', ctx.storefront.storeName);
    main().innerHTML = `<div class="state state-empty"><h1>Product not found</h1>
      <p>It may have been removed or is not on sale yet.</p><a class="btn" href="#/">Back to the shop</a></div>`;
    focusHeading();
    return;
  }
  title(product.seo?.title || product.title, ctx.storefront.storeName);
  track('product_viewed', {
    properties: { productId: product.id, slug: product.slug, title: product.title, category: product.category?.name || null },
    valueAmount: product.priceRange.min.amount,
    currency: product.priceRange.min.currencyCode,
  });

  const images = [...(product.images || [])].sort((a, b) => a.position - b.position);
  const choices = initialChoices(product);
  const hasOptions = product.options.length > 0;

  main().innerHTML = `
    <nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Shop</a>${
      product.category ? ` / <a href="#/?category=${esc(product.category.id)}">${esc(product.category.name)}</a>` : ''
    }</nav>
    <article class="product">
      <div class="gallery">
        <div class="gallery-main">${image(images[0], product.title, 'gallery-img')}</div>
        ${images.length > 1 ? `<ul class="thumbs" aria-label="More images">${images
          .map((im, i) => `<li><button type="button" class="thumb" data-index="${i}" aria-label="Show image ${i + 1} of ${images.length}"${i === 0 ? ' aria-pressed="true"' : ' aria-pressed="false"'}>${image(im, '', 'thumb-img')}</button></li>`)
          .join('')}</ul>` : ''}
      </div>
      <div class="buy">
        <h1>${esc(product.title)}</h1>
        ${product.vendor ? `<p class="vendor">${esc(product.vendor)}</p>` : ''}
        <p class="price" id="price" aria-live="polite"></p>
        <form id="buy-form" class="buy-form">
          <div data-testid="variant-picker" class="variant-picker"${hasOptions ? '' : ' hidden'}>
            ${product.options
              .map((o, i) => `
              <label>${esc(o.name)}
                <select name="opt-${i}" data-option="${esc(o.name)}">
                  ${o.values.map((v) => `<option value="${esc(v)}"${choices[o.name] === v ? ' selected' : ''}>${esc(v)}</option>`).join('')}
                </select>
              </label>`)
              .join('')}
          </div>
          <p class="availability" id="availability" aria-live="polite"></p>
          <div class="qty-row">
            <label>Quantity <input id="quantity" name="quantity" type="number" min="1" max="10000" value="1" inputmode="numeric" required></label>
            <button type="submit" class="btn btn-primary" data-testid="add-to-cart">Add to cart</button>
          </div>
          <p id="buy-status" class="notice" role="status" aria-live="polite" hidden></p>
        </form>
        <div class="description">${product.descriptionHTML || ''}</div>
      </div>
    </article>`;
  focusHeading();

  const form = document.getElementById('buy-form');
  const button = form.querySelector('[data-testid=add-to-cart]');
  const status = document.getElementById('buy-status');
  const qty = document.getElementById('quantity');
  const showStock = ctx.storefront.showStockQuantity;
  let busy = false; // an add-to-cart request is on its way

  // Thumbnails swap the main image.
  main().querySelectorAll('.thumb').forEach((b) =>
    b.addEventListener('click', () => {
      const im = images[Number(b.dataset.index)];
      main().querySelector('.gallery-main').innerHTML = image(im, product.title, 'gallery-img');
      main().querySelectorAll('.thumb').forEach((t) => t.setAttribute('aria-pressed', String(t === b)));
    }),
  );

  /** Labels each option value "(sold out)" when, with the other choices kept, it names no buyable variant. */
  function markValues() {
    form.querySelectorAll('select[data-option]').forEach((sel) => {
      for (const opt of sel.options) {
        const v = variantFor(product, { ...choices, [sel.dataset.option]: opt.value });
        const ok = v && v.available;
        opt.textContent = ok ? opt.value : `${opt.value} (${v ? 'sold out' : 'unavailable'})`;
      }
    });
  }

  /** Shows the chosen variant's price and availability, and enables the button. */
  function update() {
    const v = hasOptions ? variantFor(product, choices) : product.variants[0];
    const a = availability(v, showStock);
    const priceEl = document.getElementById('price');
    priceEl.innerHTML = v
      ? `${esc(money(v.price, v.currency))}${v.compareAtPrice && v.compareAtPrice > v.price
          ? ` <s class="compare" aria-label="was">${esc(money(v.compareAtPrice, v.currency))}</s>` : ''}`
      : esc(priceRange(product.priceRange));
    const av = document.getElementById('availability');
    av.textContent = a.text;
    av.className = `availability availability-${a.cls}`;
    button.disabled = !v || !v.available;
    if (v && v.available && showStock && v.quantityAvailable != null) qty.max = String(Math.max(1, v.quantityAvailable));
    else qty.max = '10000';
    // A variant with its own image shows it.
    const own = v && images.find((im) => im.variantID === v.id);
    if (own) {
      main().querySelector('.gallery-main').innerHTML = image(own, product.title, 'gallery-img');
      const i = String(images.indexOf(own));
      main().querySelectorAll('.thumb').forEach((t) => t.setAttribute('aria-pressed', String(t.dataset.index === i)));
    }
    markValues();
    return v;
  }

  form.addEventListener('change', (e) => {
    if (e.target.dataset.option) {
      choices[e.target.dataset.option] = e.target.value;
      say(status, '');
      update();
    }
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = update();
    const quantity = Math.max(1, Math.floor(Number(qty.value) || 1));
    if (!v || !v.available || busy) return;
    // Busy, not disabled: a disabled button would lose keyboard focus.
    busy = true;
    button.setAttribute('aria-disabled', 'true');
    button.textContent = 'Adding…';
    try {
      const p = await addToCart(v.id, quantity);
      const warn = p.warnings?.length ? ` ${p.warnings.map((w) => w.message).join(' ')}` : '';
      status.innerHTML = `Added to your cart.${esc(warn)} <a href="#/cart">View cart (${p.cart.totalQuantity})</a>`;
      status.className = 'notice notice-ok';
      status.hidden = false;
      track('added_to_cart', {
        properties: { productId: product.id, variantId: v.id, sku: v.sku, title: product.title, quantity },
        valueAmount: v.price * quantity,
        currency: v.currency,
      });
    } catch (err) {
      // OUT_OF_STOCK, UNAVAILABLE, INVALID … are userErrors: show them as they are.
      say(status, describe(err), 'error');
    } finally {
      busy = false;
      button.removeAttribute('aria-disabled');
      button.textContent = 'Add to cart';
      update();
    }
  });

  update();
}
