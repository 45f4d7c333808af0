// The merchant dashboard's shell: sign-in, the header (store, connection
// state, sign-out), the hash router and the store-wide orderEvents
// subscription that the overview and orders views listen to.

import { createClient, Session, loadConfig, esc, GraphQLError, userErrorOf } from '/assets/lib/gql.js';
import { OrderStream } from './stream.js';

const LOGIN = `mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken user { email } userErrors { code message field } }
}`;
const LOGOUT = `mutation Logout { logout { loggedOut userErrors { code message } } }`;
const ME = `query Me {
  me {
    user { id email fullName role }
    merchant { id name slug defaultCurrency timezone country status plan }
  }
}`;

const $ = (sel) => document.querySelector(sel);

// Built-in views of this shell, and the page modules (web/admin/pages/).
const views = {
  overview: () => import('./overview.js'),
  orders: () => import('./orders.js'),
  products: () => import('./pages/products.js'),
  customers: () => import('./pages/customers.js'),
  campaigns: () => import('./pages/campaigns.js'),
};
const titles = { overview: 'Overview', orders: 'Orders', products: 'Products', customers: 'Customers', campaigns: 'Campaigns' };

let config;
let session;
let client;
let stream = null;
let merchant = null;
let current = null; // { name, cleanup, el }
let routeSeq = 0;
let signingOut = false;

/** Shows a short message in the toast region; kind: info | success | error. */
export function toast(message, kind = 'info') {
  const box = $('#toasts');
  const t = document.createElement('div');
  t.className = `toast toast-${kind === 'error' || kind === 'success' ? kind : 'info'}`;
  t.textContent = String(message ?? '');
  box.append(t);
  setTimeout(() => {
    t.classList.add('toast-out');
    setTimeout(() => t.remove(), 300);
  }, kind === 'error' ? 7000 : 4000);
}

function navigate(hash) {
  const h = hash.startsWith('#') ? hash : `#${hash}`;
  if (location.hash === h) route();
  else location.hash = h;
}

function show(which) {
  $('#boot').hidden = which !== 'boot';
  $('#signin').hidden = which !== 'signin';
  $('#app').hidden = which !== 'app';
}

// ---- connection state -------------------------------------------------

const stateLabels = {
  idle: 'Idle',
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};

function renderStatus(status, detail) {
  const el = $('#connection-state');
  el.dataset.state = status;
  let label = stateLabels[status] || status;
  if (status === 'reconnecting' && detail?.attempt) label = `Reconnecting (attempt ${detail.attempt})…`;
  if (status !== 'connected' && !navigator.onLine) label = status === 'reconnecting' ? `Offline — ${label.toLowerCase()}` : 'Offline';
  el.querySelector('.conn-label').textContent = label;
  el.title = status === 'connected' ? 'Live order events are flowing' : `Live updates: ${label}`;
}

// ---- sign-in ----------------------------------------------------------

function signinError(message) {
  const el = $('[data-testid=signin-error]');
  el.textContent = message || '';
  el.hidden = !message;
}

function loginMessage(err) {
  if (err.code === 'RATE_LIMITED') return `Too many sign-in attempts — wait and try again. (${err.message})`;
  if (err.code === 'INVALID_CREDENTIALS') return 'Wrong email or password.';
  if (err.code === 'NETWORK') return err.message;
  return err.message || 'Sign-in failed.';
}

async function onSignin(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const email = $('#signin-email').value.trim();
  const password = $('#signin-password').value;
  if (!email || !password) {
    signinError('Enter your email and password.');
    (email ? $('#signin-password') : $('#signin-email')).focus();
    return;
  }
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  button.textContent = 'Signing in…';
  signinError('');
  try {
    const data = await client.request(LOGIN, { input: { email, password } });
    const uerr = userErrorOf(data.login);
    if (uerr) throw uerr;
    if (!data.login.accessToken) throw new Error('Sign-in failed.');
    session.set(data.login.accessToken, data.login.refreshToken);
    $('#signin-password').value = '';
    await start();
  } catch (e) {
    signinError(loginMessage(e));
    $('#signin-password').select();
    $('#signin-password').focus();
  } finally {
    button.disabled = false;
    button.textContent = 'Sign in';
  }
}

function showSignin(message) {
  teardown();
  show('signin');
  signinError(message || '');
  document.title = 'Sign in · OmniSphere';
  setTimeout(() => ($('#signin-email').value ? $('#signin-password') : $('#signin-email')).focus(), 0);
}

// ---- signed in ----------------------------------------------------------

async function start() {
  show('boot');
  let data;
  try {
    data = await client.request(ME);
  } catch (e) {
    if (!session.signedIn || e.code === 'UNAUTHENTICATED') {
      session.clear();
      showSignin('Your session has ended. Sign in again.');
      return;
    }
    showFatal(e);
    return;
  }
  merchant = data.me.merchant;
  $('#store-name').textContent = merchant.name;
  $('#user-email').textContent = data.me.user.email;
  document.title = `${merchant.name} · OmniSphere`;
  stream = new OrderStream(client);
  stream.start();
  show('app');
  route();
}

function showFatal(e) {
  show('boot');
  const boot = $('#boot');
  boot.innerHTML = `<div class="state state-error"><h2>The dashboard cannot load</h2><p>${esc(e.message)}</p>
    <p><button type="button" class="btn btn-primary" id="boot-retry">Try again</button>
    <button type="button" class="btn btn-ghost" id="boot-signout">Sign out</button></p></div>`;
  $('#boot-retry').addEventListener('click', () => location.reload());
  $('#boot-signout').addEventListener('click', signout);
}

function teardown() {
  unmountCurrent();
  stream?.stop();
  stream = null;
  merchant = null;
  if (client.status !== 'idle' && client.status !== 'closed') client.close();
  renderStatus('idle');
}

async function signout() {
  const btn = $('#signout');
  btn.disabled = true;
  try {
    if (session.signedIn) await client.request(LOGOUT);
  } catch (e) {
    // The tokens are dropped anyway; the server session expires on its own.
    if (e.code !== 'UNAUTHENTICATED') toast(`Sign-out: ${e.message}`, 'error');
  } finally {
    btn.disabled = false;
  }
  signingOut = true;
  session.clear(); // onChange shows the sign-in form
  signingOut = false;
}

// ---- router -------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const parts = raw.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { name: parts[0] || 'overview', params: parts.slice(1) };
}

function unmountCurrent() {
  if (!current) return;
  const { cleanup } = current;
  current = null;
  if (typeof cleanup === 'function') {
    try {
      cleanup();
    } catch (e) {
      console.error('cleanup', e);
    }
  }
}

function setActiveNav(name) {
  for (const a of document.querySelectorAll('#main-nav a')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (!merchant) return;
  const { name, params } = parseHash();
  if (!views[name]) {
    navigate('#/overview');
    return;
  }
  const seq = ++routeSeq;
  unmountCurrent();
  closeNav();
  setActiveNav(name);
  document.title = `${titles[name]} · ${merchant.name}`;
  const main = $('#main');
  main.replaceChildren();
  const el = document.createElement('div');
  el.className = `view view-${name}`;
  el.innerHTML = `<div class="state state-loading" role="status"><span class="spinner" aria-hidden="true"></span> Loading ${esc(titles[name].toLowerCase())}…</div>`;
  main.append(el);
  current = { name, el, cleanup: null };
  const ctx = { client, session, config, merchant, navigate, toast, orderStream: stream };
  let mod;
  try {
    mod = await views[name]();
  } catch (e) {
    if (seq !== routeSeq) return;
    viewError(el, name, `The ${titles[name]} page could not be loaded.`, e);
    return;
  }
  if (seq !== routeSeq) return;
  try {
    if (typeof mod.default !== 'function') throw new Error('the page module has no default mount function');
    el.replaceChildren();
    const cleanup = await mod.default(el, ctx, params);
    if (seq !== routeSeq || current?.el !== el) {
      if (typeof cleanup === 'function') cleanup();
      return;
    }
    current.cleanup = cleanup;
  } catch (e) {
    if (seq !== routeSeq) return;
    if (e?.code === 'UNAUTHENTICATED' && !session.signedIn) return;
    viewError(el, name, `The ${titles[name]} page failed.`, e);
  }
}

function viewError(el, name, title, e) {
  console.error(name, e);
  el.innerHTML = `<div class="state state-error" role="alert">
    <h2>${esc(title)}</h2>
    <p>${esc(e?.message || String(e))}</p>
    <p><button type="button" class="btn btn-primary">Retry</button></p>
  </div>`;
  el.querySelector('button').addEventListener('click', () => route());
}

// ---- phone navigation -------------------------------------------------------

function closeNav() {
  $('#main-nav').classList.remove('open');
  $('#nav-toggle').setAttribute('aria-expanded', 'false');
}

function toggleNav() {
  const open = !$('#main-nav').classList.contains('open');
  $('#main-nav').classList.toggle('open', open);
  $('#nav-toggle').setAttribute('aria-expanded', String(open));
  if (open) $('#main-nav a').focus();
}

// ---- boot ---------------------------------------------------------------

async function boot() {
  try {
    config = await loadConfig();
  } catch (e) {
    config = { graphql: '/graphql', store: null };
  }
  session = new Session('omnisphere.admin', config.graphql || '/graphql');
  client = createClient({ endpoint: config.graphql || '/graphql', session });
  client.onStatus(renderStatus);
  window.addEventListener('online', () => renderStatus(client.status));
  window.addEventListener('offline', () => renderStatus(client.status));

  $('#signin-form').addEventListener('submit', onSignin);
  $('#signout').addEventListener('click', signout);
  $('#nav-toggle').addEventListener('click', toggleNav);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('#main-nav').classList.contains('open')) {
      closeNav();
      $('#nav-toggle').focus();
    }
  });
  window.addEventListener('hashchange', () => {
    route();
    $('#main').focus({ preventScroll: true });
  });
  session.onChange((signedIn) => {
    if (!signedIn && merchant) showSignin(signingOut ? '' : 'Your session has ended. Sign in again.');
  });
  // Another tab signed in or out.
  window.addEventListener('storage', (e) => {
    if (e.key !== session.key) return;
    const next = new Session(session.key, session.endpoint);
    if (!next.signedIn && merchant) session.clear();
  });

  if (session.signedIn) await start();
  else showSignin();
}

boot().catch((e) => showFatal(e instanceof Error ? e : new GraphQLError(null, 0)));
