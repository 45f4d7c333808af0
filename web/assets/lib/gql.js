// The GraphQL client the admin dashboard and the demo storefront share:
// queries and mutations over HTTP POST, subscriptions over
// graphql-transport-ws (the vendored graphql-ws client) with reconnects,
// a connection state, and sessions whose tokens refresh themselves.
// Tokens go in headers and in connection_init, never in a URL.

import { createClient as createWsClient } from '../vendor/graphql-ws/client.js';

/** An error of a GraphQL response: code is the first error's extensions.code. */
export class GraphQLError extends Error {
  constructor(errors, status) {
    const list = Array.isArray(errors) && errors.length ? errors : [{ message: `HTTP ${status}` }];
    super(list.map((e) => e.message).join('; '));
    this.name = 'GraphQLError';
    this.errors = list;
    this.status = status;
    this.code = list[0]?.extensions?.code || (status >= 500 ? 'INTERNAL' : 'UNKNOWN');
  }
}

/** A payload's userErrors as an Error (code of the first one), or null. */
export function userErrorOf(payload) {
  const errs = payload?.userErrors;
  if (!errs || errs.length === 0) return null;
  const e = new Error(errs.map((u) => u.message).join('; '));
  e.name = 'UserError';
  e.code = errs[0].code;
  e.userErrors = errs;
  return e;
}

let configPromise;
/**
 * The pages' configuration from the server (/assets/config.json):
 * { graphql: "/graphql", store: { slug, name, storefrontKey, currency } | null }.
 */
export function loadConfig() {
  configPromise ??= fetch('/assets/config.json', { headers: { Accept: 'application/json' } }).then((r) => {
    if (!r.ok) throw new Error(`config: HTTP ${r.status}`);
    return r.json();
  });
  return configPromise;
}

/** The WebSocket URL of an HTTP endpoint path on this origin. */
export function websocketURL(endpoint) {
  const u = new URL(endpoint, window.location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/**
 * Session keeps a pair of tokens in localStorage under key and renews the
 * access token through tokenRefresh (a refresh token works once: the new
 * pair replaces it). Listeners hear sign-in and sign-out.
 */
export class Session {
  constructor(key, endpoint = '/graphql') {
    this.key = key;
    this.endpoint = endpoint;
    this.listeners = new Set();
    this.refreshing = null;
    try {
      this.tokens = JSON.parse(localStorage.getItem(key) || 'null');
    } catch {
      this.tokens = null;
    }
  }

  get signedIn() {
    return !!this.tokens?.accessToken;
  }

  set(accessToken, refreshToken, extra = {}) {
    this.tokens = { accessToken, refreshToken, ...extra };
    localStorage.setItem(this.key, JSON.stringify(this.tokens));
    this.emit();
  }

  clear() {
    this.tokens = null;
    localStorage.removeItem(this.key);
    this.emit();
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit() {
    for (const fn of this.listeners) fn(this.signedIn);
  }

  /** Seconds until the access token expires (from its exp claim), or Infinity. */
  expiresIn() {
    const t = this.tokens?.accessToken;
    if (!t || t.split('.').length !== 3) return Infinity;
    try {
      const claims = JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      return claims.exp ? claims.exp - Date.now() / 1000 : Infinity;
    } catch {
      return Infinity;
    }
  }

  /** A current access token, refreshed first when it expires within a minute. */
  async accessToken() {
    if (!this.tokens) return null;
    if (this.expiresIn() < 60) await this.refresh();
    return this.tokens?.accessToken ?? null;
  }

  /** Renews the pair once, however many callers ask at the same time. */
  refresh() {
    if (!this.tokens?.refreshToken) {
      this.clear();
      return Promise.resolve(false);
    }
    this.refreshing ??= (async () => {
      try {
        const res = await fetch(this.endpoint, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json' },
          body: JSON.stringify({
            query: 'mutation TokenRefresh($input: TokenRefreshInput!) { tokenRefresh(input: $input) { accessToken refreshToken userErrors { code message } } }',
            variables: { input: { refreshToken: this.tokens.refreshToken } },
          }),
        });
        const body = await res.json().catch(() => ({}));
        const p = body?.data?.tokenRefresh;
        if (p?.accessToken) {
          this.set(p.accessToken, p.refreshToken, { ...this.tokens, accessToken: p.accessToken, refreshToken: p.refreshToken });
          return true;
        }
        this.clear();
        return false;
      } catch {
        return false; // offline: keep the tokens, try again later
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}

/**
 * createClient returns { request, subscribe, onStatus, status, reconnect, close }.
 *
 * headers(): extra request headers (storefront key, …); session: a Session
 * whose bearer token is sent and refreshed once on UNAUTHENTICATED;
 * initPayload(): the connection_init payload beyond the token
 * ({ storefrontKey } …).
 *
 * Subscription status: 'idle' (no subscription), 'connecting',
 * 'connected', 'reconnecting' (after a drop: retried with exponential
 * backoff, 0.5 s to 30 s, with jitter) or 'closed'.
 */
export function createClient({ endpoint = '/graphql', headers = () => ({}), session = null, initPayload = () => ({}) } = {}) {
  const statusListeners = new Set();
  let status = 'idle';
  let retries = 0;
  const setStatus = (s, detail) => {
    status = s;
    for (const fn of statusListeners) fn(s, detail);
  };

  async function post(query, variables, token) {
    const h = { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json', ...headers() };
    if (token) h.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(endpoint, { method: 'POST', headers: h, body: JSON.stringify({ query, variables }) });
    } catch (e) {
      throw new GraphQLError([{ message: 'The server cannot be reached. Check your connection.', extensions: { code: 'NETWORK' } }], 0);
    }
    let body;
    try {
      body = await res.json();
    } catch {
      throw new GraphQLError(null, res.status);
    }
    if (body.errors?.length) throw new GraphQLError(body.errors, res.status);
    if (!res.ok) throw new GraphQLError(null, res.status);
    return body.data;
  }

  /** Runs a query or mutation and returns its data; throws GraphQLError. */
  async function request(query, variables = {}) {
    const token = session ? await session.accessToken() : null;
    try {
      return await post(query, variables, token);
    } catch (e) {
      if (session && token && e.code === 'UNAUTHENTICATED' && (await session.refresh())) {
        return post(query, variables, session.tokens?.accessToken);
      }
      if (session && token && e.code === 'UNAUTHENTICATED') session.clear();
      throw e;
    }
  }

  let ws = null;
  function wsClient() {
    if (ws) return ws;
    ws = createWsClient({
      url: websocketURL(endpoint),
      lazy: true,
      lazyCloseTimeout: 1000,
      keepAlive: 15000,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: async (n) => {
        const base = Math.min(30000, 500 * 2 ** n);
        await new Promise((r) => setTimeout(r, base / 2 + Math.random() * (base / 2)));
      },
      connectionParams: async () => {
        const p = { ...initPayload() };
        if (session) {
          const t = await session.accessToken();
          if (t) p.authorization = `Bearer ${t}`;
        }
        return p;
      },
      on: {
        connecting: () => setStatus(retries > 0 ? 'reconnecting' : 'connecting', { attempt: retries }),
        connected: () => {
          retries = 0;
          setStatus('connected');
        },
        closed: (ev) => {
          // 4403: credentials refused (expired token): refresh before the retry.
          if (ev?.code === 4403 && session) session.refresh();
          retries++;
          setStatus(active > 0 ? 'reconnecting' : 'idle', { code: ev?.code, reason: ev?.reason, attempt: retries });
        },
      },
    });
    return ws;
  }

  let active = 0;
  /**
   * Subscribes; next(data) for every event, error(err) for a GraphQL
   * error of the operation (the subscription then ends). Transport drops
   * are retried and only change the status. Returns an unsubscribe function.
   */
  function subscribe(query, variables, { next, error = () => {}, complete = () => {} }) {
    active++;
    let done = false;
    const dispose = wsClient().subscribe(
      { query, variables },
      {
        next: (msg) => {
          if (msg.errors?.length) error(new GraphQLError(msg.errors, 200));
          else next(msg.data);
        },
        error: (err) => {
          if (Array.isArray(err)) error(new GraphQLError(err, 200));
          else error(err instanceof Error ? err : new Error(err?.reason || 'subscription failed'));
        },
        complete,
      },
    );
    return () => {
      if (done) return;
      done = true;
      active--;
      dispose();
    };
  }

  return {
    request,
    subscribe,
    get status() {
      return status;
    },
    onStatus(fn) {
      statusListeners.add(fn);
      return () => statusListeners.delete(fn);
    },
    /** Drops the socket (after a sign-in, say): subscriptions reconnect with fresh credentials. */
    reconnect() {
      ws?.terminate();
    },
    close() {
      ws?.dispose();
      ws = null;
      setStatus('closed');
    },
  };
}

/** Money ({ amount in minor units, currencyCode }) formatted for the browser's locale. */
export function formatMoney(money, locale = undefined) {
  if (!money) return '';
  const code = money.currencyCode || 'USD';
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits;
  } catch {
    /* unknown code: two digits */
  }
  const value = money.amount / 10 ** digits;
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency: code }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${code}`;
  }
}

/** Escapes text for HTML. Pages build markup with this, never with raw data. */
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
