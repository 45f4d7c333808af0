// The cart (#/cart): lines with quantity steppers and remove buttons,
// discount codes, totals, warnings and userErrors, and the way to checkout.

import { loadCart, currentCart, updateLine, removeLine, setDiscountCodes, onCartChange } from '../cart.js';
import { esc, main, loading, errorBox, empty, describe, formatMoney, image, title, focusHeading, say } from '../ui.js';

function lineRow(l) {
  const v = l.variant;
  const p = v?.product;
  const name = p ? p.title : 'No longer sold';
  const max = v?.quantityAvailable != null ? ` max="${Math.max(l.quantity, v.quantityAvailable)}"` : '';
  return `
    <li class="line" data-line="${esc(l.id)}">
      ${image(p?.featuredImage, name, 'line-img')}
      <div class="line-info">
        ${p ? `<a href="#/product/${esc(encodeURIComponent(p.slug))}">${esc(name)}</a>` : `<span>${esc(name)}</span>`}
        ${v?.title ? `<span class="muted">${esc(v.title)}</span>` : ''}
        <span class="muted">${esc(formatMoney(l.cost.unitPrice))} each</span>
      </div>
      <div class="line-qty">
        <label class="sr-only" for="qty-${esc(l.id)}">Quantity of ${esc(name)}</label>
        <input id="qty-${esc(l.id)}" class="qty" type="number" min="0"${max} value="${l.quantity}" inputmode="numeric" data-line-qty="${esc(l.id)}">
        <button type="button" class="btn btn-link" data-remove="${esc(l.id)}" aria-label="Remove ${esc(name)}">Remove</button>
      </div>
      <div class="line-total">
        ${l.cost.discount.amount ? `<s class="muted">${esc(formatMoney(l.cost.subtotal))}</s>` : ''}
        <strong>${esc(formatMoney(l.cost.total))}</strong>
      </div>
    </li>`;
}

/** The totals block, shared with the checkout view. */
export function totals(cart, { shipping = false } = {}) {
  const c = cart.cost;
  const row = (label, m, cls = '') => `<div class="${cls}"><dt>${esc(label)}</dt><dd>${esc(formatMoney(m))}</dd></div>`;
  return `
    <dl class="totals">
      ${row('Subtotal', c.subtotal)}
      ${c.discountTotal.amount ? row('Discounts', { ...c.discountTotal, amount: -c.discountTotal.amount }) : ''}
      ${shipping || cart.shippingMethod ? row(cart.shippingMethod ? `Shipping (${cart.shippingMethod.name})` : 'Shipping', c.shippingTotal) : '<div><dt>Shipping</dt><dd class="muted">at checkout</dd></div>'}
      ${c.taxTotal.amount || !c.taxesIncluded ? row(c.taxesIncluded ? 'Tax included' : 'Tax', c.taxTotal) : ''}
      ${row('Total', c.total, 'grand')}
    </dl>`;
}

function view(cart) {
  if (!cart || cart.lines.length === 0) {
    return `<h1>Your cart</h1><div data-testid="cart" data-count="0">${empty('Your cart is empty.', 'Browse products', '#/')}</div>`;
  }
  const codes = cart.discountCodes
    .map((d) => `<li>
        <span class="code">${esc(d.code)}</span>
        ${d.applicable ? `<span class="ok">−${esc(formatMoney(d.amount))}</span>` : `<span class="warn">does not apply${d.reason ? ` (${esc(d.reason)})` : ''}</span>`}
        <button type="button" class="btn btn-link" data-remove-code="${esc(d.code)}" aria-label="Remove code ${esc(d.code)}">Remove</button>
      </li>`)
    .join('');
  return `
    <h1>Your cart</h1>
    <div data-testid="cart" class="cart" data-count="${cart.totalQuantity}">
      <ul class="lines" aria-label="Cart lines">${cart.lines.map(lineRow).join('')}</ul>
      ${cart.warnings.length ? `<ul class="warnings" role="status">${cart.warnings.map((w) => `<li>${esc(w.message)}</li>`).join('')}</ul>` : ''}
      <p id="cart-status" class="notice" role="alert" hidden></p>
      <div class="cart-side">
        <form id="discount-form" class="discount-form">
          <label for="discount-code">Discount code</label>
          <div class="inline">
            <input id="discount-code" name="code" autocomplete="off" autocapitalize="characters">
            <button type="submit" class="btn">Apply</button>
          </div>
          ${codes ? `<ul class="codes">${codes}</ul>` : ''}
        </form>
        ${totals(cart)}
        <a class="btn btn-primary btn-block" href="#/checkout" data-testid="checkout">Check out</a>
      </div>
    </div>`;
}

export async function render(route, ctx) {
  title('Cart', ctx.storefront.storeName);
  main().innerHTML = loading('Loading your cart…');
  try {
    await loadCart();
  } catch (e) {
    main().innerHTML = errorBox({ message: describe(e) }, 'Try again');
    main().querySelector('[data-action=retry]').addEventListener('click', () => render(route, ctx));
    return;
  }

  let statusText = null; // survives a re-render, so userErrors stay visible
  const paint = () => {
    main().innerHTML = view(currentCart());
    const s = document.getElementById('cart-status');
    if (s && statusText) say(s, statusText.text, statusText.kind);
    wire();
  };

  /**
   * Runs a cart change; the cart re-renders from the mutation's answer.
   * Keyboard focus goes back to the control that made the change (or to
   * the message, or the heading when that control is gone).
   */
  async function run(fn, focusSelector) {
    main().querySelectorAll('button, input').forEach((el) => (el.disabled = true));
    statusText = null;
    try {
      const p = await fn();
      if (p?.warnings?.length) statusText = { text: p.warnings.map((w) => w.message).join(' '), kind: 'warn' };
    } catch (e) {
      // OUT_OF_STOCK, DISCOUNT_INVALID … (the cart keeps its last state).
      statusText = { text: describe(e), kind: 'error' };
    }
    paint();
    const s = document.getElementById('cart-status');
    const target = (statusText && s) || (focusSelector && main().querySelector(focusSelector)) || main().querySelector('h1');
    if (target === s || target.tagName === 'H1') target.tabIndex = -1;
    target.focus();
  }

  function wire() {
    const root = main();
    root.querySelectorAll('[data-line-qty]').forEach((input) =>
      input.addEventListener('change', () => {
        const q = Math.max(0, Math.floor(Number(input.value) || 0));
        run(() => updateLine(input.dataset.lineQty, q), `[data-line-qty="${CSS.escape(input.dataset.lineQty)}"]`);
      }),
    );
    root.querySelectorAll('[data-remove]').forEach((b) =>
      b.addEventListener('click', () => run(() => removeLine(b.dataset.remove), '[data-testid=checkout]')),
    );
    const cart = currentCart();
    root.querySelectorAll('[data-remove-code]').forEach((b) =>
      b.addEventListener('click', () =>
        run(() => setDiscountCodes(cart.discountCodes.map((d) => d.code).filter((c) => c !== b.dataset.removeCode)), '#discount-code'),
      ),
    );
    const form = document.getElementById('discount-form');
    form?.addEventListener('submit', (e) => {
      e.preventDefault();
      const code = form.elements.code.value.trim();
      if (!code) return;
      run(() => setDiscountCodes([...cart.discountCodes.map((d) => d.code), code]), '#discount-code');
    });
  }

  paint();
  focusHeading();
  // Another tab or the popup (a discount applied) may change the cart.
  return onCartChange(() => {
    if (!main().querySelector('[data-testid=cart]')) return;
    if (!document.activeElement || !main().contains(document.activeElement)) paint();
  });
}
