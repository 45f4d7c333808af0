// Every GraphQL document the demo storefront sends, in one place.
//
// They use the public storefront API only (graph/storefront.graphqls,
// checkout.graphqls, auth.graphqls, marketing.graphqls,
// marketing_popups.graphqls): the requests carry the store's publishable
// key (X-Storefront-Key) or its slug (X-Store-Slug), plus the customer's
// bearer token once someone signs in. Copy what you need.
//
// This module has no browser dependencies, so the same documents can be
// checked against a running server from a script.

/** Money is always { amount (minor units), currencyCode }. */
const MONEY = 'amount currencyCode';

/** The store's name and the settings a storefront needs. */
export const STOREFRONT = /* GraphQL */ `
  query Storefront {
    storefront {
      storeName
      storeDescription
      currency
      showStockQuantity
      guestCheckout
      pricesIncludeTax
      branding
    }
  }`;

/** The category tree, two levels deep (enough for the demo store). */
export const CATEGORIES = /* GraphQL */ `
  query Categories {
    categories(first: 20) {
      edges {
        node {
          id name slug
          children(first: 20) { edges { node { id name slug } } }
        }
      }
    }
  }`;

/** One page of the product grid: search, filters, sort and a cursor. */
export const PRODUCTS = /* GraphQL */ `
  query Products($query: String, $filter: ProductFilter, $first: Int, $after: Cursor,
                 $sortKey: ProductSortKeys, $reverse: Boolean) {
    products(query: $query, filter: $filter, first: $first, after: $after,
             sortKey: $sortKey, reverse: $reverse) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        node {
          id title slug vendor
          priceRange { min { ${MONEY} } max { ${MONEY} } }
          featuredImage { url altText }
        }
      }
    }
  }`;

/** The product page: images, description, options and every variant. */
export const PRODUCT = /* GraphQL */ `
  query Product($slug: String!) {
    product(slug: $slug) {
      id title slug vendor descriptionHTML currency options tags
      category { id name }
      seo { title description }
      priceRange { min { ${MONEY} } max { ${MONEY} } }
      images { id url altText position variantID }
      variants {
        id title sku optionValues price compareAtPrice currency
        available quantityAvailable
      }
    }
  }`;

/** What every cart view needs; every cart mutation answers with it. */
const CART_FIELDS = /* GraphQL */ `
  fragment CartFields on Cart {
    id email totalQuantity requiresShipping
    lines {
      id quantity
      variant {
        id title available quantityAvailable
        product { title slug featuredImage { url altText } }
      }
      cost {
        unitPrice { ${MONEY} } subtotal { ${MONEY} }
        discount { ${MONEY} } total { ${MONEY} }
      }
    }
    discountCodes { code applicable reason amount { ${MONEY} } }
    shippingAddress { firstName lastName line1 line2 city province postalCode countryCode phone }
    shippingMethod { id name price { ${MONEY} } }
    availableShippingMethods {
      id name description estimatedDaysMin estimatedDaysMax price { ${MONEY} }
    }
    cost {
      subtotal { ${MONEY} } discountTotal { ${MONEY} } shippingTotal { ${MONEY} }
      taxTotal { ${MONEY} } total { ${MONEY} } taxesIncluded
    }
    warnings { code message lineId }
  }`;

/** Every cart payload has the same shape. */
const CART_PAYLOAD = `cart { ...CartFields } warnings { code message lineId } userErrors { field message code }`;

export const CART = /* GraphQL */ `
  query Cart($id: ID!) { cart(id: $id) { ...CartFields } }
  ${CART_FIELDS}`;

export const CART_CREATE = /* GraphQL */ `
  mutation CartCreate($input: CartCreateInput!) {
    cartCreate(input: $input) { ${CART_PAYLOAD} }
  }
  ${CART_FIELDS}`;

export const CART_LINES_ADD = /* GraphQL */ `
  mutation CartLinesAdd($cartId: ID!, $lines: [CartLineInput!]!) {
    cartLinesAdd(cartId: $cartId, lines: $lines) { ${CART_PAYLOAD} }
  }
  ${CART_FIELDS}`;

export const CART_LINES_UPDATE = /* GraphQL */ `
  mutation CartLinesUpdate($cartId: ID!, $lines: [CartLineUpdateInput!]!) {
    cartLinesUpdate(cartId: $cartId, lines: $lines) { ${CART_PAYLOAD} }
  }
  ${CART_FIELDS}`;

export const CART_LINES_REMOVE = /* GraphQL */ `
  mutation CartLinesRemove($cartId: ID!, $lineIds: [ID!]!) {
    cartLinesRemove(cartId: $cartId, lineIds: $lineIds) { ${CART_PAYLOAD} }
  }
  ${CART_FIELDS}`;

export const CART_DISCOUNT_CODES_UPDATE = /* GraphQL */ `
  mutation CartDiscountCodesUpdate($cartId: ID!, $discountCodes: [String!]!) {
    cartDiscountCodesUpdate(cartId: $cartId, discountCodes: $discountCodes) { ${CART_PAYLOAD} }
  }
  ${CART_FIELDS}`;

export const CART_BUYER_IDENTITY_UPDATE = /* GraphQL */ `
  mutation CartBuyerIdentityUpdate($cartId: ID!, $buyerIdentity: CartBuyerIdentityInput!) {
    cartBuyerIdentityUpdate(cartId: $cartId, buyerIdentity: $buyerIdentity) { ${CART_PAYLOAD} }
  }
  ${CART_FIELDS}`;

export const CART_SHIPPING_METHOD_UPDATE = /* GraphQL */ `
  mutation CartShippingMethodUpdate($cartId: ID!, $shippingMethodId: ID!) {
    cartShippingMethodUpdate(cartId: $cartId, shippingMethodId: $shippingMethodId) { ${CART_PAYLOAD} }
  }
  ${CART_FIELDS}`;

/**
 * Turns the cart into an order. A guest can read the order only here, in
 * the payload: keep what the confirmation page shows.
 */
export const CHECKOUT_COMPLETE = /* GraphQL */ `
  mutation CheckoutComplete($input: CheckoutCompleteInput!) {
    checkoutComplete(input: $input) {
      order {
        id orderNumber email placedAt currency financialStatus paymentProvider
        subtotalAmount discountAmount shippingAmount taxAmount totalAmount
        shippingMethodName
        items { productTitle variantTitle quantity lineTotalAmount }
      }
      payment { id provider status amount { ${MONEY} } }
      userErrors { field message code }
    }
  }`;

const CUSTOMER_AUTH = `customer { id email firstName lastName } customerAccessToken refreshToken userErrors { field message code }`;

export const CUSTOMER_REGISTER = /* GraphQL */ `
  mutation CustomerRegister($input: CustomerRegisterInput!) {
    customerRegister(input: $input) { ${CUSTOMER_AUTH} }
  }`;

export const CUSTOMER_LOGIN = /* GraphQL */ `
  mutation CustomerLogin($input: CustomerLoginInput!) {
    customerLogin(input: $input) { ${CUSTOMER_AUTH} }
  }`;

/** Ends the session server-side: its refresh tokens stop working. */
export const LOGOUT = /* GraphQL */ `
  mutation Logout { logout { loggedOut userErrors { field message code } } }`;

/** The signed-in customer (no id: "me"), their orders and their last cart. */
export const ME = /* GraphQL */ `
  query Me {
    customer {
      id email firstName lastName
      activeCart { id totalQuantity }
      orders(first: 20) {
        edges {
          node {
            id orderNumber placedAt status financialStatus fulfillmentStatus
            currency totalAmount
            items { productTitle variantTitle quantity }
          }
        }
      }
    }
  }`;

/** A storefront event (docs/marketing.md): page_viewed, product_viewed, … */
export const TRACK_EVENT = /* GraphQL */ `
  mutation TrackEvent($input: TrackEventInput!) {
    trackEvent(input: $input) { eventId userErrors { field message code } }
  }`;

/** The capture popups for a page, given what this visitor has seen (docs/popups.md). */
export const ACTIVE_POPUPS = /* GraphQL */ `
  query ActivePopups($path: String!, $visitor: PopupVisitorInput) {
    activePopups(path: $path, visitor: $visitor) {
      id kind title body ctaText successMessage
      delaySeconds scrollDepthPercent exitIntent
      frequency frequencyDays doubleOptIn hasOffer
    }
  }`;

export const POPUP_IMPRESSION = /* GraphQL */ `
  mutation PopupImpression($popupId: ID!) {
    popupImpression(popupId: $popupId) { userErrors { field message code } }
  }`;

export const POPUP_SUBMIT = /* GraphQL */ `
  mutation PopupSubmit($input: PopupSubmitInput!) {
    popupSubmit(input: $input) {
      discountCode confirmationRequired
      userErrors { field message code }
    }
  }`;
