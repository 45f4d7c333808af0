// The customer's account (#/account): sign in or create an account, then
// the order history and sign-out.
//
// Sign-in and registration send the visitor's anonymousId, so the events
// tracked before become the customer's. Once signed in, the cart follows
// the customer: the guest cart in this browser is attached to them
// (cartBuyerIdentityUpdate; a guest cart changed by a signed-in customer
// becomes theirs), or, without one, their last cart (customer.activeCart)
// is picked up.

import { gql, mutate, session, anonymousId, resetVisitor, track } from '../api.js';
import { CUSTOMER_LOGIN, CUSTOMER_REGISTER, LOGOUT, ME } from '../operations.js';
import { cartId, loadCart, useCart, setBuyerIdentity, forgetCart } from '../cart.js';
import { esc, main, loading, errorBox, describe, money, title, focusHeading, say } from '../ui.js';

/** Keeps the tokens (and the email, to prefill checkout) and attaches the cart. */
async function signedIn(payload) {
  session.set(payload.customerAccessToken, payload.refreshToken, { email: payload.customer.email });
  // The first signed-in event stitches this visitor's anonymous history.
  track('customer_signed_in', { properties: { customerId: payload.customer.id } });
  try {
    if (cartId()) {
      const cart = await loadCart();
      if (cart) await setBuyerIdentity({ email: payload.customer.email });
    }
    if (!cartId()) {
      const { customer } = await gql(ME);
      if (customer.activeCart) await useCart(customer.activeCart.id);
    }
  } catch (e) {
    console.warn('cart after sign-in', e.message);
  }
}

function signInForms() {
  return `
    <h1>Your account</h1>
    <div class="auth">
      <form id="login-form" class="panel" aria-labelledby="login-title">
        <h2 id="login-title">Sign in</h2>
        <div class="field"><label for="login-email">Email</label><input id="login-email" name="email" type="email" autocomplete="username" required></div>
        <div class="field"><label for="login-password">Password</label><input id="login-password" name="password" type="password" autocomplete="current-password" required></div>
        <p class="notice" role="alert" tabindex="-1" hidden></p>
        <button type="submit" class="btn btn-primary">Sign in</button>
      </form>
      <form id="register-form" class="panel" aria-labelledby="register-title">
        <h2 id="register-title">Create an account</h2>
        <div class="row2">
          <div class="field"><label for="reg-first">First name</label><input id="reg-first" name="firstName" autocomplete="given-name"></div>
          <div class="field"><label for="reg-last">Last name</label><input id="reg-last" name="lastName" autocomplete="family-name"></div>
        </div>
        <div class="field"><label for="reg-email">Email</label><input id="reg-email" name="email" type="email" autocomplete="email" required></div>
        <div class="field"><label for="reg-password">Password <span class="muted">(at least 8 characters)</span></label><input id="reg-password" name="password" type="password" autocomplete="new-password" minlength="8" required></div>
        <label class="check"><input name="acceptsMarketing" type="checkbox"> Send me news and offers by email</label>
        <p class="notice" role="alert" tabindex="-1" hidden></p>
        <button type="submit" class="btn btn-primary">Create account</button>
      </form>
    </div>`;
}

function orderRow(o) {
  const items = (o.items || []).map((i) => `${i.productTitle}${i.variantTitle ? ` (${i.variantTitle})` : ''} × ${i.quantity}`).join(', ');
  return `<li class="order">
      <div><strong>#${esc(o.orderNumber)}</strong> <span class="muted">${esc(new Date(o.placedAt).toLocaleDateString())}</span></div>
      <div class="muted">${esc(items)}</div>
      <div><span class="badge">${esc(o.financialStatus.toLowerCase().replace(/_/g, ' '))}</span>
        <span class="badge">${esc(o.fulfillmentStatus.toLowerCase().replace(/_/g, ' '))}</span>
        <strong>${esc(money(o.totalAmount, o.currency))}</strong></div>
    </li>`;
}

async function renderSignedIn(route, ctx) {
  main().innerHTML = loading('Loading your account…');
  let customer;
  try {
    customer = (await gql(ME)).customer;
  } catch (e) {
    if (!session.signedIn) return render(route, ctx); // the token was refused: sign in again
    main().innerHTML = errorBox({ message: describe(e) }, 'Try again');
    main().querySelector('[data-action=retry]').addEventListener('click', () => render(route, ctx));
    return;
  }
  const orders = customer.orders.edges.map((e) => e.node);
  const name = [customer.firstName, customer.lastName].filter(Boolean).join(' ');
  main().innerHTML = `
    <h1>Hello${name ? `, ${esc(name)}` : ''}</h1>
    <p class="muted">Signed in as ${esc(customer.email)}</p>
    <section aria-labelledby="orders-title">
      <h2 id="orders-title">Your orders</h2>
      ${orders.length ? `<ul class="orders">${orders.map(orderRow).join('')}</ul>` : '<div class="state state-empty"><p>No orders yet.</p><a class="btn" href="#/">Start shopping</a></div>'}
    </section>
    <p><button type="button" class="btn" id="sign-out">Sign out</button></p>`;
  focusHeading();
  document.getElementById('sign-out').addEventListener('click', async (e) => {
    e.target.disabled = true;
    // End the session server-side, then forget everything that was theirs
    // on this device: the tokens, their cart, and the visitor id.
    await gql(LOGOUT).catch((err) => console.warn('logout', err.message));
    session.clear();
    forgetCart();
    resetVisitor();
    render(route, ctx);
  });
}

export async function render(route, ctx) {
  title('Account', ctx.storefront.storeName);
  if (session.signedIn) return renderSignedIn(route, ctx);

  main().innerHTML = signInForms();
  focusHeading();

  /** Wires one of the two forms to its mutation. */
  function wire(id, op, field, inputOf) {
    const f = document.getElementById(id);
    const status = f.querySelector('[role=alert]');
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!f.reportValidity()) return;
      const button = f.querySelector('button[type=submit]');
      button.disabled = true;
      say(status, '');
      try {
        const payload = await mutate(op, { input: inputOf(f) }, field);
        await signedIn(payload);
        render(route, ctx);
      } catch (err) {
        // INVALID_CREDENTIALS, TAKEN, RATE_LIMITED … as the API words them.
        say(status, describe(err), 'error');
        button.disabled = false;
        status.focus();
      }
    });
  }
  wire('login-form', CUSTOMER_LOGIN, 'customerLogin', (f) => ({
    email: f.elements.email.value.trim(),
    password: f.elements.password.value,
    anonymousId: anonymousId(),
  }));
  wire('register-form', CUSTOMER_REGISTER, 'customerRegister', (f) => ({
    email: f.elements.email.value.trim(),
    password: f.elements.password.value,
    firstName: f.elements.firstName.value.trim() || null,
    lastName: f.elements.lastName.value.trim() || null,
    acceptsMarketing: f.elements.acceptsMarketing.checked,
    anonymousId: anonymousId(),
  }));
}
