package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/omnisphere/omnisphere/schema/types"
)

// ShoppingCart is a storefront visitor's cart: its lines, the buyer identity
// and the totals last computed by the pricing engine. It ends CONVERTED into
// an order (the order points back through cart_id), ABANDONED when idle, or
// EXPIRED when purged.
type ShoppingCart struct{ ent.Schema }

// Annotations of the ShoppingCart.
func (ShoppingCart) Annotations() []schema.Annotation {
	return append(adminList("orders:read"), entsql.Annotation{Table: "shopping_carts"})
}

// Mixin of the ShoppingCart.
func (ShoppingCart) Mixin() []ent.Mixin { return base("shopping_carts") }

// Fields of the ShoppingCart.
func (ShoppingCart) Fields() []ent.Field {
	return []ent.Field{
		field.String("token").NotEmpty().MaxLen(64).Immutable().
			Comment("Opaque random token the storefront keeps to resume an anonymous cart; unique per merchant."),
		field.UUID("customer_id", uuidType()).Optional().Nillable().
			Comment("Signed-in customer who owns the cart; null for an anonymous visitor."),
		field.String("email").MaxLen(254).Optional().
			Comment("Buyer email given at checkout (cartBuyerIdentityUpdate); used for abandoned-cart recovery."),
		field.Enum("status").Values("ACTIVE", "CONVERTED", "ABANDONED", "EXPIRED").Default("ACTIVE"),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.Int64("subtotal_amount").Default(0).NonNegative().
			Comment("Sum of the line totals before discounts, shipping and tax."),
		field.Int64("discount_amount").Default(0).NonNegative().
			Comment("Total discount from the applied discount codes."),
		field.Int64("shipping_amount").Default(0).NonNegative().
			Comment("Cost of the selected shipping method."),
		field.Int64("tax_amount").Default(0).NonNegative(),
		field.Int64("total_amount").Default(0).NonNegative().
			Comment("subtotal - discount + shipping + tax, what the buyer will pay."),
		field.JSON("discount_codes", []string{}).Default([]string{}).
			Comment("Discount codes the buyer applied, as entered (normalised upper case)."),
		field.JSON("shipping_address", map[string]any{}).Optional().
			Comment("Shipping address given at checkout; copied to order_addresses when the order is placed.").
			Annotations(entgql.Type("Map")),
		field.JSON("billing_address", map[string]any{}).Optional().
			Comment("Billing address given at checkout; the shipping address when none is given.").
			Annotations(entgql.Type("Map")),
		field.UUID("shipping_method_id", uuidType()).Optional().Nillable().
			Comment("Shipping method the buyer selected (cartShippingMethodUpdate)."),
		field.String("anonymous_id").MaxLen(128).Optional().
			Comment("Storefront visitor id, the same as customer_events.anonymous_id, to stitch the cart to a profile."),
		field.Time("abandoned_at").Optional().Nillable().
			Comment("When the cart was marked ABANDONED (it triggers abandoned-cart workflows)."),
		field.Time("expires_at").Optional().Nillable().
			Comment("After this time the cart may be purged and is no longer resumable."),
		field.Time("converted_at").Optional().Nillable().
			Comment("When checkout turned the cart into an order (the order is reached through the order edge)."),
		field.String("note").MaxLen(2000).Optional().
			Comment("Buyer's note to the merchant, copied to the order."),
	}
}

// Edges of the ShoppingCart.
func (ShoppingCart) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("customer", Customer.Type).Field("customer_id").Unique(),
		edge.To("items", CartItem.Type),
		edge.From("shipping_method", ShippingMethod.Type).Ref("carts").
			Field("shipping_method_id").Unique(),
		edge.To("order", Order.Type).Unique().
			Comment("The order this cart was converted into, if any (FK orders.cart_id)."),
	}
}

// Indexes of the ShoppingCart.
func (ShoppingCart) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "token").Unique(),
		index.Fields("merchant_id", "status", "updated_at"),
		index.Fields("status", "updated_at"),
		index.Fields("status", "expires_at"),
		index.Fields("merchant_id", "email"),
		index.Fields("merchant_id", "anonymous_id"),
		index.Fields("customer_id"),
		index.Fields("shipping_method_id"),
	}
}

// CartItem is one line of a cart: a variant, a quantity and the unit price
// seen when the line was last priced.
type CartItem struct{ ent.Schema }

// Annotations of the CartItem.
func (CartItem) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "cart_items"}}
}

// Mixin of the CartItem.
func (CartItem) Mixin() []ent.Mixin { return base("cart_items") }

// Fields of the CartItem.
func (CartItem) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("cart_id", uuidType()).Immutable(),
		field.UUID("variant_id", uuidType()).Immutable(),
		field.Int("quantity").Positive(),
		field.Int64("unit_price").NonNegative().
			Comment("Variant price snapshot taken when the line was added or last repriced."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.Int64("line_total_amount").Default(0).NonNegative().
			Comment("unit_price * quantity."),
	}
}

// Edges of the CartItem.
func (CartItem) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("cart", ShoppingCart.Type).Ref("items").
			Field("cart_id").Unique().Required().Immutable(),
		edge.To("variant", ProductVariant.Type).
			Field("variant_id").Unique().Required().Immutable(),
	}
}

// Indexes of the CartItem.
func (CartItem) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("cart_id", "variant_id").Unique(),
		index.Fields("variant_id"),
	}
}

// Order is a placed order. Its lines, addresses and amounts are snapshots
// taken at checkout, so later catalogue or pricing changes never alter it.
type Order struct{ ent.Schema }

// Annotations of the Order.
func (Order) Annotations() []schema.Annotation {
	return append(adminList("orders:read"), entsql.Annotation{Table: "orders"})
}

// Mixin of the Order.
func (Order) Mixin() []ent.Mixin { return base("orders") }

// Fields of the Order.
func (Order) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_number").Positive().Immutable().
			Comment("Human-facing number (#1001), sequential and unique per merchant.").
			Annotations(entgql.OrderField("ORDER_NUMBER")),
		field.UUID("customer_id", uuidType()).Optional().Nillable().
			Comment("Customer profile of the buyer; null for a guest order not yet matched to a profile."),
		field.UUID("cart_id", uuidType()).Optional().Nillable().Immutable().
			Comment("Cart the order was placed from; null for orders created by staff or import."),
		field.String("email").MaxLen(254).Optional().
			Comment("Buyer email for receipts and shipping notices."),
		field.String("phone").MaxLen(32).Optional(),
		field.Enum("status").
			Values("PENDING", "PAID", "FULFILLED", "DELIVERED", "CANCELLED", "REFUNDED", "PARTIALLY_REFUNDED").
			Default("PENDING").
			Comment("Overall lifecycle status shown to merchants and customers."),
		field.Enum("financial_status").
			Values("PENDING", "AUTHORIZED", "PAID", "PARTIALLY_REFUNDED", "REFUNDED", "VOIDED", "FAILED").
			Default("PENDING").
			Comment("Payment side of the order, driven by order_payments and refunds."),
		field.Enum("fulfillment_status").
			Values("UNFULFILLED", "PARTIALLY_FULFILLED", "FULFILLED").
			Default("UNFULFILLED").
			Comment("Shipping side of the order, driven by order_items.fulfilled_quantity."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.Int64("subtotal_amount").Default(0).NonNegative().
			Comment("Sum of the line totals before order-level discount, shipping and tax."),
		field.Int64("discount_amount").Default(0).NonNegative(),
		field.Int64("shipping_amount").Default(0).NonNegative(),
		field.Int64("tax_amount").Default(0).NonNegative(),
		field.Int64("total_amount").Default(0).NonNegative().
			Comment("Amount charged: subtotal - discount + shipping + tax.").
			Annotations(entgql.OrderField("TOTAL")),
		field.Int64("refunded_amount").Default(0).NonNegative().
			Comment("Sum of the succeeded refunds."),
		field.Enum("payment_provider").Values("MANUAL", "STRIPE").Default("MANUAL").
			Comment("How the buyer pays: MANUAL (marked paid by staff) or STRIPE (PaymentIntent)."),
		field.String("idempotency_key").MaxLen(255).Optional().Nillable().Immutable().
			Comment("checkoutComplete idempotency key; a retry with the same key returns this order."),
		field.UUID("shipping_method_id", uuidType()).Optional().Nillable().
			Comment("Shipping method chosen at checkout."),
		field.String("shipping_method_name").MaxLen(200).Optional().
			Comment("Snapshot of the shipping method name at checkout."),
		field.JSON("discount_codes", []string{}).Default([]string{}).
			Comment("Snapshot of the discount codes applied at checkout."),
		field.Time("placed_at").Default(nowUTC).Immutable().
			Comment("When checkout completed.").
			Annotations(entgql.OrderField("PLACED_AT")),
		field.Time("paid_at").Optional().Nillable(),
		field.Time("fulfilled_at").Optional().Nillable(),
		field.Time("delivered_at").Optional().Nillable().
			Comment("When the carrier delivered the order (orderMarkDelivered)."),
		field.Time("cancelled_at").Optional().Nillable(),
		field.Enum("cancel_reason").Values("CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "STAFF", "OTHER").
			Optional().Nillable(),
		field.String("tracking_number").MaxLen(255).Optional(),
		field.String("tracking_url").MaxLen(2048).Optional(),
		field.String("note").MaxLen(2000).Optional().
			Comment("Buyer's note to the merchant."),
		field.JSON("metadata", map[string]any{}).Optional().
			Comment("Free-form key/values set by the merchant or integrations.").
			Annotations(entgql.Type("Map")),
		field.String("ip").MaxLen(64).Optional().
			Comment("Buyer's IP at checkout, for fraud review.").
			Annotations(ordersStaffField()),
		field.String("user_agent").MaxLen(512).Optional().
			Comment("Buyer's User-Agent at checkout, for fraud review.").
			Annotations(ordersStaffField()),
		field.String("idempotency_fingerprint").MaxLen(64).Optional().Immutable().
			Comment("Hash of the checkoutComplete input the idempotency key was first used with: the same key with another input is refused.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("stock_hold_expires_at").Optional().Nillable().
			Comment("Until when the order's reserved stock is held while payment is pending; null once paid or released. An expired hold cancels the order and releases the stock.").
			Annotations(ordersStaffField()),
		field.Bool("stock_released").Default(false).
			Comment("The order's reservations were given back (cancelled, expired or payment failed).").
			Annotations(ordersStaffField()),
	}
}

// Edges of the Order.
func (Order) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("customer", Customer.Type).Field("customer_id").Unique(),
		edge.From("cart", ShoppingCart.Type).Ref("order").
			Field("cart_id").Unique().Immutable(),
		edge.From("shipping_method", ShippingMethod.Type).Ref("orders").
			Field("shipping_method_id").Unique(),
		edge.To("items", OrderItem.Type),
		edge.To("addresses", OrderAddress.Type),
		edge.To("payments", OrderPayment.Type),
		edge.To("refunds", Refund.Type),
		edge.To("discount_redemptions", DiscountRedemption.Type),
	}
}

// Indexes of the Order.
func (Order) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "order_number").Unique(),
		index.Fields("merchant_id", "idempotency_key").Unique(),
		index.Fields("merchant_id", "placed_at"),
		index.Fields("merchant_id", "status", "placed_at"),
		index.Fields("merchant_id", "financial_status"),
		index.Fields("merchant_id", "fulfillment_status"),
		index.Fields("merchant_id", "total_amount"),
		index.Fields("merchant_id", "email"),
		index.Fields("status", "stock_hold_expires_at"),
		index.Fields("customer_id", "placed_at"),
		index.Fields("shipping_method_id"),
		// The growth overview reads paid orders by payment time
		// (internal/marketing/analytics) from the index alone.
		index.Fields("merchant_id", "paid_at").StorageKey("order_merchant_id_paid_at").
			Annotations(entsql.IndexWhere("paid_at IS NOT NULL"),
				entsql.IncludeColumns("currency", "total_amount", "customer_id", "email")),
	}
}

// OrderItem is one line of an order: a snapshot of the product and variant
// as sold, with its price, discount and tax, and how much of it has been
// fulfilled or refunded. The variant and product links are kept while they
// exist; the snapshot survives their deletion.
type OrderItem struct{ ent.Schema }

// Annotations of the OrderItem.
func (OrderItem) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "order_items"}}
}

// Mixin of the OrderItem.
func (OrderItem) Mixin() []ent.Mixin { return base("order_items") }

// Fields of the OrderItem.
func (OrderItem) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("order_id", uuidType()).Immutable(),
		field.UUID("variant_id", uuidType()).Optional().Nillable().Immutable().
			Comment("Variant sold; null once the variant is deleted."),
		field.UUID("product_id", uuidType()).Optional().Nillable().Immutable().
			Comment("Product sold; null once the product is deleted."),
		field.String("product_title").NotEmpty().MaxLen(255).Immutable().
			Comment("Product title at the time of sale."),
		field.String("variant_title").MaxLen(255).Optional().Immutable().
			Comment("Variant title (e.g. \"Red / L\") at the time of sale."),
		field.String("sku").MaxLen(100).Optional().Immutable().
			Comment("Variant SKU at the time of sale."),
		field.String("image_url").MaxLen(2048).Optional().
			Comment("Featured image at the time of sale, for receipts and the order page."),
		field.Bool("requires_shipping").Default(true).
			Comment("False for digital goods and services, which need no fulfilment by shipment."),
		field.Int("quantity").Positive(),
		field.Int64("unit_price").NonNegative().
			Comment("Price of one unit at the time of sale."),
		field.Int64("discount_amount").Default(0).NonNegative().
			Comment("Total discount allocated to this line."),
		field.Int64("tax_amount").Default(0).NonNegative().
			Comment("Total tax on this line."),
		field.Int64("line_total_amount").Default(0).NonNegative().
			Comment("unit_price * quantity - discount_amount."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.Int("fulfilled_quantity").Default(0).NonNegative().
			Comment("Units shipped so far."),
		field.Int("refunded_quantity").Default(0).NonNegative().
			Comment("Units refunded (and possibly restocked) so far."),
		field.JSON("allocations", []types.Allocation{}).Default([]types.Allocation{}).
			Comment("Warehouses the line's units are reserved in and shipped from; empty for untracked variants.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the OrderItem.
func (OrderItem) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("items").
			Field("order_id").Unique().Required().Immutable(),
		edge.To("variant", ProductVariant.Type).Field("variant_id").Unique().Immutable(),
		edge.To("product", Product.Type).Field("product_id").Unique().Immutable(),
	}
}

// Indexes of the OrderItem.
func (OrderItem) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("order_id"),
		index.Fields("variant_id"),
		index.Fields("merchant_id", "product_id"),
	}
}

// OrderAddress is the shipping or billing address of an order, copied at
// checkout; an order has at most one of each kind.
type OrderAddress struct{ ent.Schema }

// Annotations of the OrderAddress.
func (OrderAddress) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "order_addresses"}}
}

// Mixin of the OrderAddress.
func (OrderAddress) Mixin() []ent.Mixin { return base("order_addresses") }

// Fields of the OrderAddress.
func (OrderAddress) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("order_id", uuidType()).Immutable(),
		field.Enum("kind").Values("SHIPPING", "BILLING").Default("SHIPPING").Immutable(),
		field.String("first_name").MaxLen(100).Optional(),
		field.String("last_name").MaxLen(100).Optional(),
		field.String("company").MaxLen(200).Optional(),
		field.String("line1").NotEmpty().MaxLen(255).
			Comment("Street address."),
		field.String("line2").MaxLen(255).Optional().
			Comment("Apartment, suite, unit."),
		field.String("city").NotEmpty().MaxLen(100),
		field.String("province").MaxLen(100).Optional().
			Comment("State, province or region."),
		field.String("postal_code").MaxLen(20).Optional(),
		field.String("country_code").MinLen(2).MaxLen(2).
			Comment("ISO 3166-1 alpha-2 country code."),
		field.String("phone").MaxLen(32).Optional(),
	}
}

// Edges of the OrderAddress.
func (OrderAddress) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("addresses").
			Field("order_id").Unique().Required().Immutable(),
	}
}

// Indexes of the OrderAddress.
func (OrderAddress) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("order_id", "kind").Unique(),
		index.Fields("merchant_id", "country_code"),
	}
}

// Discount is a code the buyer enters at checkout: a fixed amount off, a
// percentage off or free shipping, limited by a usage count, a validity
// window, a minimum subtotal and optional product or category scopes.
type Discount struct{ ent.Schema }

// Annotations of the Discount.
func (Discount) Annotations() []schema.Annotation {
	return append(adminList("marketing:read"), entsql.Annotation{Table: "discounts"})
}

// Mixin of the Discount.
func (Discount) Mixin() []ent.Mixin { return base("discounts") }

// Fields of the Discount.
func (Discount) Fields() []ent.Field {
	return []ent.Field{
		field.String("code").NotEmpty().MaxLen(64).
			Comment("Code the buyer enters, stored upper case; unique per merchant.").
			Annotations(entgql.OrderField("CODE")),
		field.String("title").MaxLen(200).Optional().
			Comment("Internal name shown to staff and on the receipt."),
		field.Enum("kind").Values("FIXED_AMOUNT", "PERCENTAGE", "FREE_SHIPPING"),
		field.Int64("value").Default(0).NonNegative().
			Comment("FIXED_AMOUNT: amount off in minor units; PERCENTAGE: basis points (1000 = 10%); FREE_SHIPPING: unused."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.Int64("min_subtotal_amount").Default(0).NonNegative().
			Comment("Minimum cart subtotal for the code to apply; 0 for none."),
		field.Int("usage_limit").Optional().Nillable().Positive().
			Comment("Maximum total redemptions; null for unlimited."),
		field.Int("usage_count").Default(0).NonNegative().
			Comment("Redemptions so far, incremented with each discount_redemptions row."),
		field.Bool("combinable").Default(false).
			Comment("Whether the code may be used together with other codes on one cart; a cart holds one code unless every code on it is combinable."),
		field.Bool("once_per_customer").Default(false).
			Comment("Each customer (or guest email) may redeem the code once."),
		field.Time("starts_at").Default(nowUTC).
			Comment("The code is not valid before this time."),
		field.Time("ends_at").Optional().Nillable().
			Comment("The code is not valid from this time; null for no end."),
		field.Bool("active").Default(true).
			Comment("Staff switch; an inactive code never applies."),
		field.JSON("conditions", map[string]any{}).Optional().
			Comment("Further eligibility rules (e.g. customer segment, first order only) evaluated by the pricing engine.").
			Annotations(entgql.Type("Map")),
		field.JSON("applies_to_product_ids", []string{}).Default([]string{}).
			Comment("Product ids the discount is limited to; empty with no category ids means the whole cart."),
		field.JSON("applies_to_category_ids", []string{}).Default([]string{}).
			Comment("Category ids the discount is limited to."),
	}
}

// Edges of the Discount.
func (Discount) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("redemptions", DiscountRedemption.Type).
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes of the Discount.
func (Discount) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "code").Unique(),
		index.Fields("merchant_id", "active", "ends_at"),
	}
}

// OrderPayment is one payment attempt for an order, through the manual
// provider or a Stripe PaymentIntent. The PaymentIntent's client secret is
// never stored: only the intent id is kept, and the secret is fetched from
// Stripe when the client needs it.
type OrderPayment struct{ ent.Schema }

// Annotations of the OrderPayment.
func (OrderPayment) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "order_payments"}}
}

// Mixin of the OrderPayment.
func (OrderPayment) Mixin() []ent.Mixin { return base("order_payments") }

// Fields of the OrderPayment.
func (OrderPayment) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("order_id", uuidType()).Immutable(),
		// GraphQL name set explicitly: the default (OrderPayment + Provider)
		// would collide with the enum of Order.payment_provider.
		field.Enum("provider").Values("MANUAL", "STRIPE").Default("MANUAL").Immutable().
			Annotations(entgql.Type("OrderPaymentProviderKind")),
		field.Enum("status").
			Values("PENDING", "REQUIRES_ACTION", "SUCCEEDED", "FAILED", "CANCELLED", "REFUNDED").
			Default("PENDING"),
		field.Int64("amount").NonNegative().
			Comment("Amount to collect, in minor units."),
		field.Int64("application_fee_amount").Default(0).NonNegative().
			Comment("Platform fee taken from the payment (Stripe Connect application fee)."),
		field.Int64("refunded_amount").Default(0).NonNegative().
			Comment("Sum of the succeeded refunds against this payment."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.String("stripe_account_id").MaxLen(255).Optional().
			Comment("Connected account (acct_…) the funds went to, as at payment time."),
		field.String("stripe_payment_intent_id").MaxLen(255).Optional().Nillable().
			Comment("Stripe PaymentIntent id (pi_…); the webhook finds the payment by it."),
		field.String("stripe_charge_id").MaxLen(255).Optional().Nillable().
			Comment("Stripe Charge id (ch_…) of the successful charge."),
		field.String("failure_code").MaxLen(100).Optional().
			Comment("Provider's decline or error code of the last failure."),
		field.String("failure_message").MaxLen(1000).Optional(),
		field.Time("captured_at").Optional().Nillable().
			Comment("When the funds were captured (the payment succeeded)."),
	}
}

// Edges of the OrderPayment.
func (OrderPayment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("payments").
			Field("order_id").Unique().Required().Immutable(),
		edge.To("refunds", Refund.Type),
	}
}

// Indexes of the OrderPayment.
func (OrderPayment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("order_id"),
		index.Fields("stripe_payment_intent_id").Unique(),
		index.Fields("stripe_charge_id"),
		index.Fields("merchant_id", "status", "created_at"),
	}
}

// Refund returns money of one payment of an order, through the provider's
// refund API, optionally putting the refunded units back in stock.
type Refund struct{ ent.Schema }

// Annotations of the Refund.
func (Refund) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "refunds"}}
}

// Mixin of the Refund.
func (Refund) Mixin() []ent.Mixin { return base("refunds") }

// Fields of the Refund.
func (Refund) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("order_id", uuidType()).Immutable(),
		field.UUID("payment_id", uuidType()).Immutable().
			Comment("Payment the money is returned from."),
		field.Int64("amount").Positive().Immutable().
			Comment("Amount refunded, in minor units."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.String("reason").MaxLen(500).Optional().
			Comment("Why the refund was made, as entered by staff."),
		field.Enum("status").Values("PENDING", "SUCCEEDED", "FAILED").Default("PENDING"),
		field.String("stripe_refund_id").MaxLen(255).Optional().Nillable().
			Comment("Stripe Refund id (re_…)."),
		field.String("failure_reason").MaxLen(500).Optional().
			Comment("Provider's reason when the refund failed."),
		field.Bool("restock").Default(false).Immutable().
			Comment("Whether the refunded units go back to inventory."),
		field.UUID("created_by_id", uuidType()).Optional().Nillable().Immutable().
			Comment("Staff user who issued the refund; a plain value (no foreign key) so the record survives the user's erasure."),
		field.Time("processed_at").Optional().Nillable().
			Comment("When the refund reached SUCCEEDED or FAILED."),
	}
}

// Edges of the Refund.
func (Refund) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("refunds").
			Field("order_id").Unique().Required().Immutable(),
		edge.From("payment", OrderPayment.Type).Ref("refunds").
			Field("payment_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Refund.
func (Refund) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("order_id"),
		index.Fields("payment_id"),
		index.Fields("stripe_refund_id").Unique(),
		index.Fields("merchant_id", "status", "created_at"),
	}
}

// ShippingMethod is a delivery option with a flat price, offered to a cart
// when its subtotal and destination country are eligible.
type ShippingMethod struct{ ent.Schema }

// Annotations of the ShippingMethod.
func (ShippingMethod) Annotations() []schema.Annotation {
	return append(adminList("settings:read"), entsql.Annotation{Table: "shipping_methods"})
}

// Mixin of the ShippingMethod.
func (ShippingMethod) Mixin() []ent.Mixin { return base("shipping_methods") }

// Fields of the ShippingMethod.
func (ShippingMethod) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("Name shown to the buyer, e.g. \"Standard (3–5 days)\"."),
		field.String("code").NotEmpty().MaxLen(64).
			Comment("Stable identifier for integrations; unique per merchant."),
		field.String("description").MaxLen(1000).Optional(),
		field.Int64("price").Default(0).NonNegative().
			Annotations(entgql.OrderField("PRICE")),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.Int64("min_subtotal_amount").Optional().Nillable().NonNegative().
			Comment("Offered only when the cart subtotal is at least this; null for no minimum."),
		field.Int64("max_subtotal_amount").Optional().Nillable().NonNegative().
			Comment("Offered only when the cart subtotal is at most this; null for no maximum."),
		field.Int64("free_over_amount").Optional().Nillable().NonNegative().
			Comment("Shipping costs nothing when the merchandise subtotal after discounts is at least this; null for never."),
		field.JSON("weight_bands", []types.WeightBand{}).Default([]types.WeightBand{}).
			Comment("Weight-based prices: the first band whose maxGrams covers the cart's shipped weight; empty for the flat price. Heavier than the last band: not offered.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("countries", []string{}).Default([]string{}).
			Comment("ISO 3166-1 alpha-2 destination countries; empty for everywhere."),
		field.Int("estimated_days_min").Optional().Nillable().NonNegative(),
		field.Int("estimated_days_max").Optional().Nillable().NonNegative(),
		field.Bool("active").Default(true),
		field.Int("position").Default(0).
			Comment("Display order in the storefront, ascending.").
			Annotations(entgql.OrderField("POSITION")),
	}
}

// Edges of the ShippingMethod.
func (ShippingMethod) Edges() []ent.Edge {
	return []ent.Edge{
		// Back-references only: hidden from GraphQL so that a storefront
		// listing shipping methods cannot walk to other buyers' carts or orders.
		edge.To("carts", ShoppingCart.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("orders", Order.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the ShippingMethod.
func (ShippingMethod) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "code").Unique(),
		index.Fields("merchant_id", "active", "position"),
	}
}

// DiscountRedemption records one use of a discount by one order: it backs
// usage limits and once-per-customer checks and reports what each code cost.
type DiscountRedemption struct{ ent.Schema }

// Annotations of the DiscountRedemption.
func (DiscountRedemption) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Table: "discount_redemptions"},
		entgql.RelayConnection(),
	}
}

// Mixin of the DiscountRedemption.
func (DiscountRedemption) Mixin() []ent.Mixin { return base("discount_redemptions") }

// Fields of the DiscountRedemption.
func (DiscountRedemption) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("discount_id", uuidType()).Immutable(),
		field.UUID("order_id", uuidType()).Immutable(),
		field.UUID("customer_id", uuidType()).Optional().Nillable().
			Comment("Customer who redeemed the code; null for a guest (see email)."),
		field.String("email").MaxLen(254).Optional().
			Comment("Buyer email, for once-per-customer checks on guest orders."),
		field.String("code").NotEmpty().MaxLen(64).Immutable().
			Comment("The code as redeemed (snapshot)."),
		field.Int64("amount").Default(0).NonNegative().Immutable().
			Comment("Discount the code gave on the order."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
	}
}

// Edges of the DiscountRedemption.
func (DiscountRedemption) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("discount", Discount.Type).Ref("redemptions").
			Field("discount_id").Unique().Required().Immutable(),
		edge.From("order", Order.Type).Ref("discount_redemptions").
			Field("order_id").Unique().Required().Immutable(),
		edge.To("customer", Customer.Type).Field("customer_id").Unique(),
	}
}

// Indexes of the DiscountRedemption.
func (DiscountRedemption) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("discount_id", "order_id").Unique(),
		index.Fields("discount_id", "customer_id"),
		index.Fields("discount_id", "email"),
		index.Fields("order_id"),
		index.Fields("customer_id"),
	}
}
