// Checkout (#/checkout) and the order confirmation (#/order).
//
// The flow (docs/checkout.md):
//   1. cartBuyerIdentityUpdate: email and shipping address (the available
//      shipping methods depend on the destination);
//   2. cartShippingMethodUpdate: one of cart.availableShippingMethods;
//   3. checkoutComplete { cartId, paymentProvider, idempotencyKey }.
// The idempotency key is one per purchase attempt of a cart: kept until an
// order is made, so a retry after a network failure (or after fixing a
// userError) never places a second order.
//
// Payment: the MANUAL provider (bank transfer, pay on delivery; the merchant
// marks the order paid). A STRIPE checkout answers a PaymentIntent client
// secret that only Stripe.js can confirm in the browser; this demo loads no
// third-party script, so it offers the manual provider only and says so.

import { anonymousId, mutate, session, track, uuid } from '../api.js';
import { CHECKOUT_COMPLETE } from '../operations.js';
import { loadCart, currentCart, setBuyerIdentity, setShippingMethod, forgetCart } from '../cart.js';
import { totals } from './cart.js';
import { esc, main, loading, errorBox, empty, describe, formatMoney, money, title, focusHeading, say } from '../ui.js';

const KEY_STORE = 'omnisphere.store.checkoutKey';
const LAST_ORDER = 'omnisphere.store.lastOrder';

/** The idempotency key of this cart's purchase attempt (new for a new cart). */
function idempotencyKey(cartId) {
  try {
    const kept = JSON.parse(localStorage.getItem(KEY_STORE) || 'null');
    if (kept?.cartId === cartId) return kept.key;
  } catch {
    /* a broken value: replace it */
  }
  const key = uuid();
  localStorage.setItem(KEY_STORE, JSON.stringify({ cartId, key }));
  return key;
}

/** "Standard — $5.00 (3–5 days)"; the days are left out when the name already says them. */
function methodLabel(m) {
  const days = m.estimatedDaysMin != null && m.estimatedDaysMax != null && !/day/i.test(m.name)
    ? ` (${m.estimatedDaysMin}–${m.estimatedDaysMax} days)` : '';
  return `${m.name} — ${formatMoney(m.price)}${days}`;
}

function field(id, label, { value = '', type = 'text', autocomplete = '', required = true, extra = '' } = {}) {
  return `<div class="field">
      <label for="${id}">${esc(label)}${required ? '' : ' <span class="muted">(optional)</span>'}</label>
      <input id="${id}" name="${id}" type="${type}" value="${esc(value)}"${autocomplete ? ` autocomplete="${autocomplete}"` : ''}${required ? ' required' : ''}${extra}>
    </div>`;
}

function form(cart, ctx) {
  const a = cart.shippingAddress || {};
  const email = cart.email || session.tokens?.email || '';
  const methods = cart.availableShippingMethods;
  const chosen = cart.shippingMethod?.id || methods[0]?.id;
  return `
    <h1>Checkout</h1>
    <div class="checkout">
      <form id="checkout-form" class="checkout-form" novalidate>
        <fieldset>
          <legend>Contact</legend>
          ${field('checkout-email', 'Email', { value: email, type: 'email', autocomplete: 'email' })}
          ${session.signedIn ? '' : '<p class="muted small">Have an account? <a href="#/account">Sign in</a> to see this order in your history.</p>'}
        </fieldset>
        <fieldset>
          <legend>Shipping address</legend>
          <div class="row2">
            ${field('checkout-first-name', 'First name', { value: a.firstName || '', autocomplete: 'given-name' })}
            ${field('checkout-last-name', 'Last name', { value: a.lastName || '', autocomplete: 'family-name' })}
          </div>
          ${field('checkout-address1', 'Address', { value: a.line1 || '', autocomplete: 'address-line1' })}
          ${field('checkout-address2', 'Apartment, suite', { value: a.line2 || '', autocomplete: 'address-line2', required: false })}
          <div class="row2">
            ${field('checkout-city', 'City', { value: a.city || '', autocomplete: 'address-level2' })}
            ${field('checkout-province', 'State / province', { value: a.province || '', autocomplete: 'address-level1', required: false })}
          </div>
          <div class="row2">
            ${field('checkout-postal-code', 'Postal code', { value: a.postalCode || '', autocomplete: 'postal-code' })}
            ${field('checkout-country', 'Country (ISO code)', { value: a.countryCode || 'US', autocomplete: 'country', extra: ' maxlength="2" pattern="[A-Za-z]{2}" autocapitalize="characters"' })}
          </div>
          ${field('checkout-phone', 'Phone', { value: a.phone || '', type: 'tel', autocomplete: 'tel', required: false })}
        </fieldset>
        <fieldset>
          <legend>Shipping method</legend>
          ${cart.requiresShipping
            ? `<label for="checkout-shipping" class="sr-only">Shipping method</label>
               <select id="checkout-shipping" name="shipping" data-testid="shipping-method" required>
                 ${methods.map((m) => `<option value="${esc(m.id)}"${m.id === chosen ? ' selected' : ''}>${esc(methodLabel(m))}</option>`).join('')}
               </select>
               ${methods.length ? '' : '<p class="warn">No shipping method serves this cart yet: check the address.</p>'}`
            : '<p class="muted">Nothing in this cart needs shipping.</p>'}
        </fieldset>
        <fieldset>
          <legend>Payment</legend>
          <label class="check"><input type="radio" name="provider" value="MANUAL" checked> Manual payment (bank transfer or pay on delivery)</label>
          <p class="muted small">You will get the payment details with your order confirmation; the store marks the order paid when the money arrives.</p>
          <p class="muted small">Card payments go through Stripe, whose card step runs in Stripe.js. This demo loads no third-party
            script (its Content-Security-Policy allows this origin only), so it offers the manual provider. A storefront that
            includes Stripe.js calls <code>checkoutComplete</code> with <code>paymentProvider: STRIPE</code> and confirms the
            returned <code>clientSecret</code> with it.</p>
        </fieldset>
        <p id="checkout-status" class="notice" role="alert" tabindex="-1" hidden></p>
        <button type="submit" class="btn btn-primary btn-block" data-testid="place-order">Place order · ${esc(formatMoney(cart.cost.total))}</button>
      </form>
      <aside class="summary" aria-label="Order summary">
        <h2>Order summary</h2>
        <ul class="summary-lines">${cart.lines
          .map((l) => `<li><span>${esc(l.variant?.product?.title || 'Item')}${l.variant?.title ? ` <span class="muted">${esc(l.variant.title)}</span>` : ''} × ${l.quantity}</span><span>${esc(formatMoney(l.cost.total))}</span></li>`)
          .join('')}</ul>
        <div id="checkout-totals">${totals(cart, { shipping: true })}</div>
        <p><a href="#/cart">Edit cart</a></p>
      </aside>
    </div>`;
}

/** The address from the form, as MailingAddressInput. */
function addressOf(f) {
  const v = (id) => f.elements[id].value.trim();
  return {
    firstName: v('checkout-first-name'),
    lastName: v('checkout-last-name'),
    line1: v('checkout-address1'),
    line2: v('checkout-address2') || null,
    city: v('checkout-city'),
    province: v('checkout-province') || null,
    postalCode: v('checkout-postal-code'),
    countryCode: v('checkout-country').toUpperCase(),
    phone: v('checkout-phone') || null,
  };
}

function confirmation(order, ctx) {
  if (!order) {
    return empty('There is no recent order to show.', 'Continue shopping', '#/');
  }
  const cur = order.currency;
  return `
    <section class="confirmation" data-testid="order-confirmation" data-order-number="${esc(order.orderNumber)}">
      <h1>Thank you! Order #${esc(order.orderNumber)}</h1>
      <p>Your order is placed. Order updates go to <strong>${esc(order.email || '')}</strong>.</p>
      ${order.paymentProvider === 'MANUAL' && order.financialStatus === 'PENDING'
        ? '<p class="notice notice-info">Payment is pending: the store will send you the details to pay by bank transfer or on delivery.</p>' : ''}
      <ul class="summary-lines">${(order.items || [])
        .map((i) => `<li><span>${esc(i.productTitle)}${i.variantTitle ? ` <span class="muted">${esc(i.variantTitle)}</span>` : ''} × ${i.quantity}</span><span>${esc(money(i.lineTotalAmount, cur))}</span></li>`)
        .join('')}</ul>
      <dl class="totals">
        <div><dt>Subtotal</dt><dd>${esc(money(order.subtotalAmount, cur))}</dd></div>
        ${order.discountAmount ? `<div><dt>Discounts</dt><dd>${esc(money(-order.discountAmount, cur))}</dd></div>` : ''}
        <div><dt>Shipping${order.shippingMethodName ? ` (${esc(order.shippingMethodName)})` : ''}</dt><dd>${esc(money(order.shippingAmount, cur))}</dd></div>
        <div><dt>Tax</dt><dd>${esc(money(order.taxAmount, cur))}</dd></div>
        <div class="grand"><dt>Total</dt><dd>${esc(money(order.totalAmount, cur))}</dd></div>
      </dl>
      <p><a class="btn" href="#/">Continue shopping</a> ${session.signedIn ? '<a class="btn" href="#/account">Your orders</a>' : ''}</p>
    </section>`;
}

export async function render(route, ctx) {
  if (route.name === 'order') {
    title('Order confirmed', ctx.storefront.storeName);
    let order = null;
    try {
      order = JSON.parse(sessionStorage.getItem(LAST_ORDER) || 'null');
    } catch {
      order = null;
    }
    main().innerHTML = confirmation(order, ctx);
    focusHeading();
    return;
  }

  title('Checkout', ctx.storefront.storeName);
  main().innerHTML = loading('Loading checkout…');
  try {
    await loadCart();
  } catch (e) {
    main().innerHTML = errorBox({ message: describe(e) }, 'Try again');
    main().querySelector('[data-action=retry]').addEventListener('click', () => render(route, ctx));
    return;
  }
  let cart = currentCart();
  if (!cart || cart.lines.length === 0) {
    main().innerHTML = `<h1>Checkout</h1>${empty('Your cart is empty.', 'Browse products', '#/')}`;
    focusHeading();
    return;
  }
  if (!ctx.storefront.guestCheckout && !session.signedIn) {
    main().innerHTML = `<h1>Checkout</h1>${empty('This store asks you to sign in before checking out.', 'Sign in or create an account', '#/account')}`;
    focusHeading();
    return;
  }
  track('checkout_started', {
    properties: { cartId: cart.id, items: cart.totalQuantity },
    valueAmount: cart.cost.total.amount,
    currency: cart.cost.total.currencyCode,
  });

  // Preselect the first shipping method on the cart itself, so the totals
  // shown are the API's for the method the selector shows.
  if (cart.requiresShipping && !cart.shippingMethod && cart.availableShippingMethods.length) {
    try {
      cart = (await setShippingMethod(cart.availableShippingMethods[0].id)).cart;
    } catch (e) {
      console.warn('shipping method', e.message); // the form still works: it is set again at "Place order"
    }
  }

  main().innerHTML = form(cart, ctx);
  focusHeading();
  const f = document.getElementById('checkout-form');
  const status = document.getElementById('checkout-status');
  const button = f.querySelector('[data-testid=place-order]');

  /** Re-renders the shipping options and totals from the cart the API answered. */
  function refresh(c) {
    const sel = f.elements.shipping;
    if (sel) {
      const keep = sel.value;
      sel.innerHTML = c.availableShippingMethods
        .map((m) => `<option value="${esc(m.id)}">${esc(methodLabel(m))}</option>`)
        .join('');
      const ids = c.availableShippingMethods.map((m) => m.id);
      sel.value = ids.includes(keep) ? keep : c.shippingMethod?.id || ids[0] || '';
    }
    document.getElementById('checkout-totals').innerHTML = totals(c, { shipping: true });
    button.textContent = `Place order · ${formatMoney(c.cost.total)}`;
  }

  // Choosing a method prices it at once.
  f.elements.shipping?.addEventListener('change', async () => {
    try {
      refresh((await setShippingMethod(f.elements.shipping.value)).cart);
      say(status, '');
    } catch (e) {
      say(status, describe(e), 'error');
    }
  });

  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!f.reportValidity()) return;
    const email = f.elements['checkout-email'].value.trim();
    button.disabled = true;
    const label = button.textContent;
    button.textContent = 'Placing your order…';
    say(status, '');
    try {
      // 1. Who buys and where it goes.
      let c = (await setBuyerIdentity({ email, shippingAddress: addressOf(f) })).cart;
      // 2. The shipping method, when something ships: the chosen one if the
      //    new address still offers it, else the first one offered.
      if (c.requiresShipping) {
        const ids = c.availableShippingMethods.map((m) => m.id);
        const wanted = f.elements.shipping?.value;
        const id = ids.includes(wanted) ? wanted : ids[0];
        if (!id) throw new Error('No shipping method delivers to this address.');
        if (id !== wanted && wanted) {
          refresh(c);
          throw new Error('The shipping method you chose does not deliver to this address: please choose another.');
        }
        if (c.shippingMethod?.id !== id) c = (await setShippingMethod(id)).cart;
        refresh(c);
      }
      // 3. The order.
      const provider = f.elements.provider.value;
      const p = await mutate(
        CHECKOUT_COMPLETE,
        { input: { cartId: c.id, paymentProvider: provider, idempotencyKey: idempotencyKey(c.id) } },
        'checkoutComplete',
      );
      const order = p.order;
      sessionStorage.setItem(LAST_ORDER, JSON.stringify(order));
      localStorage.removeItem(KEY_STORE);
      forgetCart();
      // Conversions are counted from order_placed (checkout writes none);
      // the messageId makes a retry count once.
      track('order_placed', {
        messageId: `order:${order.id}`,
        properties: { orderId: order.id, orderNumber: order.orderNumber, anonymousId: anonymousId() },
        valueAmount: order.totalAmount,
        currency: order.currency,
      });
      location.hash = '#/order';
    } catch (err) {
      // userErrors (REQUIRED, OUT_OF_STOCK, SHIPPING_METHOD_REQUIRED,
      // DISCOUNT_* …) and network errors: the key is kept, so trying
      // again is safe.
      say(status, describe(err), 'error');
      if (err.payload?.cart) refresh(err.payload.cart);
      button.disabled = false;
      button.textContent = label;
      status.focus();
    }
  });
}
