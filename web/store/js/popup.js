// The email-capture popup (graph/marketing_popups.graphqls, docs/popups.md).
//
// On every page the storefront asks activePopups(path, visitor) which
// popups to show; the server applies targeting and the frequency cap from
// what this browser remembers (visitor: the session id, the last view of
// each popup, the popups submitted). The first popup is armed with its
// trigger — after delaySeconds, at scrollDepthPercent, on exit intent, or
// at once when it has none — and, when shown, its view is remembered and
// counted (popupImpression). Submitting calls popupSubmit, which may
// answer a discount code (offered to apply to the cart).

import { gql, mutate, anonymousId, sessionId, track } from './api.js';
import { ACTIVE_POPUPS, POPUP_IMPRESSION, POPUP_SUBMIT } from './operations.js';
import { cartId, currentCart, setDiscountCodes } from './cart.js';
import { esc, describe, say } from './ui.js';

const MEMORY = 'omnisphere.store.popups';

/** What this browser remembers: { lastShown: {id: {at, sessionId}}, submitted: [id] }. */
function memory() {
  try {
    const m = JSON.parse(localStorage.getItem(MEMORY) || 'null');
    if (m && typeof m === 'object') return { lastShown: m.lastShown || {}, submitted: m.submitted || [] };
  } catch {
    /* start over */
  }
  return { lastShown: {}, submitted: [] };
}
const remember = (m) => localStorage.setItem(MEMORY, JSON.stringify(m));

/** The PopupVisitorInput of this visitor. */
function visitor() {
  const m = memory();
  return {
    sessionId: sessionId(),
    lastShown: Object.entries(m.lastShown).map(([popupId, v]) => ({ popupId, at: v.at, sessionId: v.sessionId })),
    submittedPopupIds: m.submitted,
  };
}

let disarm = () => {};
let dialog = null;
let generation = 0;

/** Closes the popup and cancels pending triggers (on every navigation). */
export function hidePopups() {
  generation++;
  disarm();
  disarm = () => {};
  if (dialog) {
    if (dialog.open) dialog.close();
    dialog.remove();
    dialog = null;
  }
}

/** Asks for the page's popups and arms the first one's trigger. */
export async function showPopupsFor(path) {
  const gen = ++generation;
  let popups;
  try {
    popups = (await gql(ACTIVE_POPUPS, { path, visitor: visitor() })).activePopups;
  } catch (e) {
    console.warn('activePopups', e.message);
    return;
  }
  if (gen !== generation || popups.length === 0) return;
  arm(popups[0], gen);
}

/** Waits for the popup's first enabled trigger (none: shows at once). */
function arm(p, gen) {
  const cleanups = [];
  let fired = false;
  const fire = () => {
    if (fired || gen !== generation) return;
    fired = true;
    cleanups.forEach((c) => c());
    show(p);
  };
  disarm = () => cleanups.forEach((c) => c());

  const noTrigger = !p.delaySeconds && !p.scrollDepthPercent && !p.exitIntent;
  if (noTrigger) return fire();
  if (p.delaySeconds > 0) {
    const t = setTimeout(fire, p.delaySeconds * 1000);
    cleanups.push(() => clearTimeout(t));
  }
  if (p.scrollDepthPercent > 0) {
    const onScroll = () => {
      const el = document.documentElement;
      const scrollable = el.scrollHeight - el.clientHeight;
      const pct = scrollable <= 0 ? 100 : (el.scrollTop / scrollable) * 100;
      if (pct >= p.scrollDepthPercent) fire();
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    cleanups.push(() => window.removeEventListener('scroll', onScroll));
  }
  if (p.exitIntent) {
    // The pointer leaving the window through its top edge.
    const onOut = (e) => {
      if (!e.relatedTarget && e.clientY <= 0) fire();
    };
    document.addEventListener('mouseout', onOut);
    cleanups.push(() => document.removeEventListener('mouseout', onOut));
  }
}

/** Shows the popup: a modal <dialog> for MODAL, a non-modal one for SLIDE_IN and BANNER. */
function show(p) {
  const m = memory();
  m.lastShown[p.id] = { at: new Date().toISOString(), sessionId: sessionId() };
  remember(m);
  gql(POPUP_IMPRESSION, { popupId: p.id }).catch((e) => console.warn('popupImpression', e.message));

  dialog = document.createElement('dialog');
  dialog.className = `popup popup-${p.kind.toLowerCase()}`;
  dialog.setAttribute('aria-labelledby', 'popup-title');
  dialog.innerHTML = `
    <button type="button" class="popup-close" aria-label="Close">×</button>
    <h2 id="popup-title">${esc(p.title)}</h2>
    ${p.body ? `<p class="popup-body">${esc(p.body)}</p>` : ''}
    <form class="popup-form" method="dialog">
      <label for="popup-email">Email</label>
      <div class="inline">
        <input id="popup-email" name="email" type="email" autocomplete="email" required>
        <button type="submit" class="btn btn-primary">${esc(p.ctaText)}</button>
      </div>
      <p class="notice" role="status" aria-live="polite" hidden></p>
    </form>`;
  document.body.append(dialog);
  const close = () => hidePopups();
  dialog.querySelector('.popup-close').addEventListener('click', close);
  dialog.addEventListener('cancel', close);
  if (p.kind === 'MODAL') dialog.showModal();
  else dialog.show();
  dialog.querySelector('#popup-email').focus();

  const form = dialog.querySelector('form');
  const status = form.querySelector('[role=status]');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const r = await mutate(
        POPUP_SUBMIT,
        { input: { popupId: p.id, email: form.elements.email.value.trim(), anonymousId: anonymousId(), pagePath: location.hash || '/' } },
        'popupSubmit',
      );
      const mem = memory();
      if (!mem.submitted.includes(p.id)) mem.submitted.push(p.id);
      remember(mem);
      track('popup_submitted', { properties: { popupId: p.id } });
      thanks(p, r);
    } catch (err) {
      say(status, describe(err), 'error');
      button.disabled = false;
    }
  });
}

/** The success message, the confirmation notice and the code (with "apply to cart"). */
function thanks(p, r) {
  const form = dialog.querySelector('form');
  const box = document.createElement('div');
  box.className = 'popup-thanks';
  box.setAttribute('role', 'status');
  box.innerHTML = `
    <p>${esc(p.successMessage || 'Thank you for subscribing!')}</p>
    ${r.confirmationRequired ? '<p>Please check your inbox: follow the link in our email to confirm.</p>' : ''}
    ${r.discountCode ? `<p>Your code: <strong class="code">${esc(r.discountCode)}</strong></p>
      ${cartId() ? '<button type="button" class="btn btn-primary" data-apply>Apply to my cart</button>' : '<p class="muted">Enter it in your cart.</p>'}
      <p class="notice" hidden></p>` : ''}
    <button type="button" class="btn" data-done>Close</button>`;
  form.replaceWith(box);
  box.querySelector('[data-done]').addEventListener('click', () => hidePopups());
  const apply = box.querySelector('[data-apply]');
  apply?.addEventListener('click', async () => {
    apply.disabled = true;
    const note = box.querySelector('.notice');
    try {
      const codes = (currentCart()?.discountCodes || []).map((d) => d.code);
      await setDiscountCodes([...codes, r.discountCode]);
      say(note, 'Applied to your cart.', 'ok');
    } catch (err) {
      say(note, describe(err), 'error');
      apply.disabled = false;
    }
  });
  box.querySelector('button').focus();
}
