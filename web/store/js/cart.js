// The cart: its id kept in localStorage, the last answer of the API kept
// in memory, and listeners (the header's cart count) told of every change.
// Every change goes through a cart mutation, whose payload carries the
// cart as it is now: the page never computes prices itself.

import { gql, mutate, anonymousId, session } from './api.js';
import {
  CART, CART_CREATE, CART_LINES_ADD, CART_LINES_UPDATE, CART_LINES_REMOVE,
  CART_DISCOUNT_CODES_UPDATE, CART_BUYER_IDENTITY_UPDATE, CART_SHIPPING_METHOD_UPDATE,
} from './operations.js';

const KEY = 'omnisphere.store.cartId';
const listeners = new Set();
let current = null; // the last Cart the API answered, or null

export const cartId = () => localStorage.getItem(KEY);
export const currentCart = () => current;

/** Calls fn(cart) after every change (cart may be null). */
export function onCartChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function set(cart) {
  current = cart;
  if (cart) localStorage.setItem(KEY, cart.id);
  else localStorage.removeItem(KEY);
  for (const fn of listeners) fn(cart);
  return cart;
}

/** Forgets the cart (after an order, or at sign-out). */
export function forgetCart() {
  set(null);
}

/**
 * Loads the kept cart. A cart that is gone, converted into an order or
 * belongs to someone else answers null: it is forgotten.
 */
export async function loadCart() {
  const id = cartId();
  if (!id) return set(null);
  try {
    const { cart } = await gql(CART, { id });
    return set(cart);
  } catch (e) {
    if (e.code === 'NOT_FOUND' || e.code === 'FORBIDDEN') return set(null);
    throw e;
  }
}

/** Adopts a cart by id (the signed-in customer's activeCart). */
export async function useCart(id) {
  localStorage.setItem(KEY, id);
  return loadCart();
}

/** Codes that mean "this cart cannot be changed any more: start a new one". */
const DEAD_CART = new Set(['NOT_FOUND', 'CART_COMPLETED']);

/**
 * Adds a variant. Starts a cart on the first add (with the visitor's
 * anonymousId, to stitch it to their profile) and starts a new one when
 * the kept cart was already checked out. Returns { cart, warnings };
 * throws userErrors (OUT_OF_STOCK, UNAVAILABLE, INVALID …).
 */
export async function addToCart(variantId, quantity) {
  const lines = [{ variantId, quantity }];
  const id = cartId();
  if (id) {
    try {
      const p = await mutate(CART_LINES_ADD, { cartId: id, lines }, 'cartLinesAdd');
      set(p.cart);
      return p;
    } catch (e) {
      if (!DEAD_CART.has(e.code)) throw e;
    }
  }
  const input = { lines, anonymousId: anonymousId() };
  if (session.tokens?.email) input.email = session.tokens.email;
  const p = await mutate(CART_CREATE, { input }, 'cartCreate');
  set(p.cart);
  return p;
}

/** Runs a cart mutation on the kept cart and keeps its answer. */
async function change(query, vars, field) {
  const id = cartId();
  if (!id) throw new Error('Your cart is empty.');
  try {
    const p = await mutate(query, { cartId: id, ...vars }, field);
    set(p.cart);
    return p;
  } catch (e) {
    // The payload of a refused change still carries the cart as it is.
    if (e.payload?.cart) set(e.payload.cart);
    throw e;
  }
}

export const updateLine = (lineId, quantity) =>
  change(CART_LINES_UPDATE, { lines: [{ id: lineId, quantity }] }, 'cartLinesUpdate');
export const removeLine = (lineId) => change(CART_LINES_REMOVE, { lineIds: [lineId] }, 'cartLinesRemove');
export const setDiscountCodes = (discountCodes) =>
  change(CART_DISCOUNT_CODES_UPDATE, { discountCodes }, 'cartDiscountCodesUpdate');
export const setBuyerIdentity = (buyerIdentity) =>
  change(CART_BUYER_IDENTITY_UPDATE, { buyerIdentity }, 'cartBuyerIdentityUpdate');
export const setShippingMethod = (shippingMethodId) =>
  change(CART_SHIPPING_METHOD_UPDATE, { shippingMethodId }, 'cartShippingMethodUpdate');
