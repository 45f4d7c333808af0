// The storefront's connection to the API: the store credential from
// /assets/config.json, the GraphQL client, the signed-in customer's
// session, the visitor ids, and event tracking.

import { createClient, loadConfig, Session, userErrorOf } from '/assets/lib/gql.js';
import { TRACK_EVENT } from './operations.js';

/** The customer's tokens (localStorage), refreshed by the shared client. */
export const session = new Session('omnisphere.store.customer');

let client = null;
let store = null;

/**
 * Reads /assets/config.json and builds the client. Resolves to the store
 * ({ slug, name, currency, storefrontKey }) or null when the server shows
 * no store.
 */
export async function connect() {
  const config = await loadConfig();
  store = config.store;
  if (!store) return null;
  // A publishable key identifies the store; without one the slug does.
  const credential = store.storefrontKey ? { 'X-Storefront-Key': store.storefrontKey } : { 'X-Store-Slug': store.slug };
  client = createClient({ endpoint: config.graphql || '/graphql', headers: () => credential, session });
  return store;
}

/** Runs a query or mutation; throws GraphQLError (top-level errors). */
export function gql(query, variables = {}) {
  return client.request(query, variables);
}

/**
 * Runs a mutation and returns its payload (data[field]); throws the
 * payload's userErrors as one Error (err.userErrors, err.code).
 */
export async function mutate(query, variables, field) {
  const data = await gql(query, variables);
  const payload = data[field];
  const err = userErrorOf(payload);
  if (err) {
    err.payload = payload;
    throw err;
  }
  return payload;
}

/** A random UUID, also where crypto.randomUUID is missing (plain-HTTP hosts). */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Reads or creates an id kept in a Storage (localStorage: the visitor; sessionStorage: the visit). */
function keptId(storage, key) {
  let id = storage.getItem(key);
  if (!id) {
    id = uuid();
    storage.setItem(key, id);
  }
  return id;
}

const ANON_KEY = 'omnisphere.store.anonymousId';
const SESSION_KEY = 'omnisphere.store.sessionId';

/** The visitor id sent with every event, registration and sign-in. */
export const anonymousId = () => keptId(localStorage, ANON_KEY);
/** The visit (browsing session): popups' ONCE_PER_SESSION and conversion counts. */
export const sessionId = () => keptId(sessionStorage, SESSION_KEY);

/** After sign-out the next visitor on this device gets a fresh id (docs/marketing.md). */
export function resetVisitor() {
  localStorage.removeItem(ANON_KEY);
}

/**
 * Records a storefront event (docs/marketing.md). Fire and forget: a
 * failed event never breaks the page, it is only logged. The same
 * anonymousId goes with every event, signed in or not, so the visitor's
 * anonymous history is attached to the customer once they sign in.
 */
export function track(type, { properties, valueAmount, currency, messageId } = {}) {
  if (!client) return;
  const input = {
    type,
    anonymousId: anonymousId(),
    sessionId: sessionId(),
    messageId: messageId || uuid(),
    pageUrl: location.href.slice(0, 2048),
    referrer: document.referrer ? document.referrer.slice(0, 2048) : null,
    properties: properties || null,
    valueAmount: valueAmount ?? null,
    currency: valueAmount != null ? currency || store?.currency || null : null,
  };
  gql(TRACK_EVENT, { input })
    .then((d) => {
      const errs = d.trackEvent.userErrors;
      if (errs.length) console.warn('trackEvent', type, errs);
    })
    .catch((e) => console.warn('trackEvent', type, e.message));
}
