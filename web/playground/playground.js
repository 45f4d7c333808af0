// The playground: GraphiQL (vendored, from the binary) against this
// server's /graphql, subscriptions over graphql-transport-ws on the same
// URL, example operations in tabs and the header editor prefilled with the
// store's storefront key. Headers from the editor also authenticate
// subscriptions: Authorization and X-Storefront-Key / X-Store-Slug go into
// connection_init.

(async function main() {
  const root = document.getElementById('graphiql');
  let config = { graphql: '/graphql', store: null };
  try {
    const res = await fetch('/assets/config.json', { headers: { Accept: 'application/json' } });
    if (res.ok) config = await res.json();
  } catch {
    /* keep the defaults: the editor still works with headers typed in */
  }
  const endpoint = new URL(config.graphql || '/graphql', location.href).toString();
  const wsURL = endpoint.replace(/^http/, 'ws');

  const store = config.store;
  const headers = {};
  if (store?.storefrontKey) headers['X-Storefront-Key'] = store.storefrontKey;
  else if (store?.slug) headers['X-Store-Slug'] = store.slug;
  const headersText = JSON.stringify(headers, null, 2);

  const tabs = [
    {
      query: `# OmniSphere playground${store ? ` — ${store.name}` : ''}
#
# Headers (below) hold ${store ? "the store's public\n# storefront key" : 'your credentials'}: storefront
# queries and carts work as is. For admin
# operations run the Login tab and add
#   "Authorization": "Bearer <accessToken>"
# to the headers. Subscriptions send the same
# headers in connection_init (graphql-transport-ws
# at ${wsURL}).

query Products($query: String, $first: Int = 12) {
  products(first: $first, query: $query, sortKey: TITLE) {
    totalCount
    edges {
      node {
        id
        title
        slug
        priceRange { min { amount currencyCode } max { amount currencyCode } }
        variants { id sku title price available }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}`,
      variables: '{\n  "first": 12\n}',
      headers: headersText,
    },
    {
      query: `# Create a cart, then add a variant with cartLinesAdd (its id comes from
# the Products tab).
mutation CartCreate {
  cartCreate(input: {}) {
    cart { id totalQuantity cost { total { amount currencyCode } } }
    userErrors { code field message }
  }
}`,
      headers: headersText,
    },
    {
      query: `# Staff sign-in: the accessToken goes into the Authorization header.
mutation Login($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) {
    accessToken
    refreshToken
    user { email }
    userErrors { code field message }
  }
}`,
      variables: '{\n  "email": "owner@demo.omnisphere.test",\n  "password": "printed when the demo store was seeded"\n}',
      headers: headersText,
    },
    {
      query: `# Live orders of the store (staff): needs "Authorization": "Bearer <accessToken>".
subscription OrderEvents {
  orderEvents {
    type
    orderNumber
    status
    occurredAt
  }
}`,
      headers: '{\n  "Authorization": "Bearer <accessToken>"\n}',
    },
  ];

  // The WebSocket client of the headers it was made with: a change of
  // headers makes a new one.
  let ws = null;
  let wsKey = '';
  function wsClient(h) {
    const params = {};
    for (const [k, v] of Object.entries(h || {})) {
      const name = k.toLowerCase();
      if (name === 'authorization') params.authorization = v;
      else if (name === 'x-storefront-key') params.storefrontKey = v;
      else if (name === 'x-store-slug') params.storeSlug = v;
    }
    const key = JSON.stringify(params);
    if (ws && key === wsKey) return ws;
    ws?.dispose();
    wsKey = key;
    ws = window.graphqlWs.createClient({ url: wsURL, connectionParams: params, lazy: true, retryAttempts: 3 });
    return ws;
  }

  function isSubscription(params) {
    const src = (params.query || '').replace(/#[^\n]*/g, '');
    if (params.operationName) {
      return new RegExp(`\\bsubscription\\s+${params.operationName}\\b`).test(src);
    }
    return /^\s*subscription\b/.test(src);
  }

  async function fetcher(params, opts) {
    const h = opts?.headers || {};
    if (isSubscription(params)) {
      const client = wsClient(h);
      return {
        subscribe(observer) {
          const dispose = client.subscribe(params, {
            next: (v) => observer.next(v),
            error: (e) => observer.error(e instanceof Error ? e : new Error(Array.isArray(e) ? e.map((x) => x.message).join('; ') : e?.reason || 'subscription closed')),
            complete: () => observer.complete(),
          });
          return { unsubscribe: dispose };
        },
      };
    }
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json', ...h },
      body: JSON.stringify(params),
    });
    return res.json();
  }

  const { createElement } = window.React;
  const rootEl = window.ReactDOM.createRoot(root);
  rootEl.render(
    createElement(window.GraphiQL, {
      fetcher,
      defaultTabs: tabs,
      defaultHeaders: headersText,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
      isHeadersEditorEnabled: true,
    }),
  );
})();
