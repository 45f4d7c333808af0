// Small DOM helpers shared by the views. Data always goes in through
// esc() (markup) or textContent, never as raw HTML.

import { esc, formatMoney } from '/assets/lib/gql.js';

export { esc, formatMoney };

/** The <main> element views render into. */
export const main = () => document.getElementById('main');

/** Money of an amount in minor units and a currency code. */
export const money = (amount, currencyCode) => formatMoney({ amount, currencyCode });

/** "$10.00" or "$10.00 – $25.00" for a priceRange. */
export function priceRange(range) {
  if (!range) return '';
  const lo = formatMoney(range.min);
  return range.min.amount === range.max.amount ? lo : `${lo} – ${formatMoney(range.max)}`;
}

/** A loading state with a live region, so screen readers hear it. */
export function loading(label = 'Loading…') {
  return `<p class="state state-loading" role="status" aria-live="polite"><span class="spinner" aria-hidden="true"></span>${esc(label)}</p>`;
}

/** An error state with the API's message. */
export function errorBox(err, retryLabel) {
  const msg = err?.message || String(err);
  return `<div class="state state-error" role="alert"><p>${esc(msg)}</p>${
    retryLabel ? `<button type="button" class="btn" data-action="retry">${esc(retryLabel)}</button>` : ''
  }</div>`;
}

/** An empty state with an optional link. */
export function empty(text, linkText, href) {
  return `<div class="state state-empty"><p>${esc(text)}</p>${
    linkText ? `<a class="btn" href="${esc(href)}">${esc(linkText)}</a>` : ''
  }</div>`;
}

/**
 * A message for an error thrown by the API: userErrors are listed one per
 * line, a STORE_NOT_PUBLISHED top-level error says what the merchant must do.
 */
export function describe(err) {
  if (err?.code === 'STORE_NOT_PUBLISHED') {
    return 'This store is not open yet: the merchant publishes it in the dashboard (storefrontConfigUpdate published: true).';
  }
  if (err?.userErrors) return err.userErrors.map((u) => u.message).join(' ');
  return err?.message || String(err);
}

/** Puts a message into a live region element (role=status or alert). */
export function say(el, text, kind = 'info') {
  if (!el) return;
  el.textContent = text;
  el.className = `notice notice-${kind}`;
  el.hidden = !text;
}

/** Sets the document title for the current view. */
export function title(text, storeName) {
  document.title = text ? `${text} · ${storeName}` : storeName;
}

/** Moves focus to a view's heading after navigation (keyboard and screen-reader users). */
export function focusHeading() {
  const h = main().querySelector('h1');
  if (h) {
    h.tabIndex = -1;
    h.focus({ preventScroll: true });
  }
}

/** A product image, or a neutral placeholder when the product has none. */
export function image(img, alt, cls = '') {
  if (!img?.url) return `<div class="img-placeholder ${cls}" aria-hidden="true"></div>`;
  return `<img class="${cls}" src="${esc(img.url)}" alt="${esc(img.altText || alt || '')}" loading="lazy">`;
}
