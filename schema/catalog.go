package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Product is a sellable item of a merchant's catalogue: what the storefront
// shows on a product page. What is actually bought is one of its variants;
// the product carries the shared copy, media, SEO and the option axes, and a
// few denormalised aggregates (price range, stock) kept up to date by
// internal/catalog so that listings filter and sort without joins.
type Product struct{ ent.Schema }

// Annotations of the Product. There is no generated Query field: one
// hand-written Query.products (graph/storefront.graphqls) serves both the
// storefront and the admin.
func (Product) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entsql.Annotation{Table: "products"}}
}

// Mixin of the Product.
func (Product) Mixin() []ent.Mixin { return base("products") }

// Fields of the Product.
func (Product) Fields() []ent.Field {
	return []ent.Field{
		field.String("title").NotEmpty().MaxLen(255).
			Annotations(entgql.OrderField("TITLE")),
		field.String("slug").NotEmpty().MaxLen(255).
			Comment("URL handle, unique per merchant; product(slug:) looks it up."),
		field.Text("description").Optional().
			Comment("Plain-text description (search, feeds, emails)."),
		field.Text("description_html").Optional().
			Comment("Sanitised rich-text description rendered by the storefront."),
		field.Enum("status").Values("DRAFT", "ACTIVE", "ARCHIVED").Default("DRAFT").
			Comment("Only ACTIVE products with a past published_at are on the storefront."),
		field.Time("published_at").Optional().Nillable().
			Comment("When the product went (or goes) live on the storefront.").
			Annotations(entgql.OrderField("PUBLISHED_AT")),
		field.String("vendor").MaxLen(255).Optional().
			Comment("Brand or manufacturer."),
		field.String("product_type").MaxLen(255).Optional().
			Comment("Merchant-defined kind of product (e.g. Shirt), for filtering and reports."),
		field.JSON("tags", []string{}).Default([]string{}),
		field.String("seo_title").MaxLen(255).Optional().
			Comment("Page title for search engines; the title when empty."),
		field.String("seo_description").MaxLen(512).Optional().
			Comment("Meta description for search engines."),
		field.UUID("category_id", uuidType()).Optional().Nillable(),
		field.JSON("options", []map[string]any{}).Default([]map[string]any{}).
			Comment(`Ordered option axes of the variants, e.g. [{"name":"Size","values":["S","M"]}]; ` +
				`each variant's option_values picks one value per axis.`).
			Annotations(entgql.Type("[Map!]")),
		field.Int64("price_min").Default(0).NonNegative().
			Comment("Lowest variant price in minor units (denormalised; the price sort and filter).").
			Annotations(entgql.OrderField("PRICE")),
		field.Int64("price_max").Default(0).NonNegative().
			Comment("Highest variant price in minor units (denormalised)."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.Int("total_inventory").Default(0).
			Comment("Units available (on hand minus reserved) over all tracked variants and warehouses (denormalised; the inStock filter).").
			// Staff only: graph/storefront.graphqls declares it nullable with
			// @auth, so that a storefront viewer gets null + FORBIDDEN for it
			// rather than losing the whole product.
			Annotations(entgql.Skip(entgql.SkipType)),
	}
}

// Edges of the Product.
func (Product) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("category", ProductCategory.Type).Ref("products").Field("category_id").Unique(),
		edge.To("variants", ProductVariant.Type),
		edge.To("images", ProductImage.Type),
	}
}

// Indexes of the Product.
func (Product) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "slug").Unique(),
		index.Fields("merchant_id", "status", "published_at"),
		index.Fields("merchant_id", "price_min"),
		index.Fields("merchant_id", "title"),
		index.Fields("merchant_id", "created_at"),
		index.Fields("merchant_id", "product_type"),
		index.Fields("merchant_id", "vendor"),
		index.Fields("category_id"),
	}
}

// ProductVariant is one purchasable version of a product (a size/colour
// combination): what carts, orders and inventory refer to. It carries its own
// SKU, price and shipping/tax/stock behaviour.
type ProductVariant struct{ ent.Schema }

// Annotations of the ProductVariant.
func (ProductVariant) Annotations() []schema.Annotation {
	return append(adminList("products:read"), entsql.Annotation{Table: "product_variants"})
}

// Mixin of the ProductVariant.
func (ProductVariant) Mixin() []ent.Mixin { return base("product_variants") }

// Fields of the ProductVariant.
func (ProductVariant) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("product_id", uuidType()).Immutable(),
		field.String("sku").NotEmpty().MaxLen(100).
			Comment("Stock keeping unit, unique per merchant.").
			Annotations(entgql.OrderField("SKU")),
		field.String("title").MaxLen(255).Default("").
			Comment(`Display name of the combination, e.g. "M / Red"; empty for a product's only variant.`),
		field.JSON("option_values", map[string]any{}).Optional().
			Comment(`The value chosen on each of the product's option axes, e.g. {"Size":"M","Color":"Red"}.`).
			Annotations(entgql.Type("Map")),
		field.Int64("price").NonNegative().
			Comment("Selling price in minor units of currency.").
			Annotations(entgql.OrderField("PRICE")),
		field.Int64("compare_at_price").Optional().Nillable().NonNegative().
			Comment("Former or list price shown struck through; a sale when above price."),
		field.Int64("cost").Optional().Nillable().NonNegative().
			Comment("Unit cost to the merchant, for margin reports; never shown on the storefront.").
			Annotations(staffField()),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.Int("weight_grams").Default(0).NonNegative().
			Comment("Shipping weight of one unit, for weight-based shipping rates."),
		field.String("barcode").MaxLen(64).Optional().
			Comment("GTIN, UPC, EAN or ISBN."),
		field.Int("position").Default(0).
			Comment("Display order among the product's variants (ascending).").
			Annotations(entgql.OrderField("POSITION")),
		field.Bool("requires_shipping").Default(true).
			Comment("False for digital goods and services: no shipping address or rate needed."),
		field.Bool("taxable").Default(true),
		field.Bool("track_inventory").Default(true).
			Comment("When false the variant is always available and inventory is not reserved."),
		field.Bool("allow_backorder").Default(false).
			Comment("Sell when no stock is available (quantity_available may go negative)."),
	}
}

// Edges of the ProductVariant.
func (ProductVariant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("product", Product.Type).Ref("variants").Field("product_id").
			Unique().Required().Immutable(),
		edge.To("images", ProductImage.Type),
		edge.To("inventory_levels", InventoryLevel.Type).
			Annotations(staffField()),
	}
}

// Indexes of the ProductVariant.
func (ProductVariant) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "sku").Unique(),
		index.Fields("product_id", "position"),
		// The eager load of a page's variants (product_id IN … under the
		// tenant filter): without it SQLite, which has no statistics until
		// ANALYZE, walks the store's variants by merchant_id.
		index.Fields("merchant_id", "product_id", "position"),
		index.Fields("merchant_id", "price"),
		index.Fields("merchant_id", "barcode"),
	}
}

// ProductCategory is a node of the merchant's category tree (collections):
// a category has an optional parent and ordered children, and products.
type ProductCategory struct{ ent.Schema }

// Annotations of the ProductCategory.
func (ProductCategory) Annotations() []schema.Annotation {
	return append(adminList("products:read"), entsql.Annotation{Table: "product_categories"})
}

// Mixin of the ProductCategory.
func (ProductCategory) Mixin() []ent.Mixin { return base("product_categories") }

// Fields of the ProductCategory.
func (ProductCategory) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(255).
			Annotations(entgql.OrderField("NAME")),
		field.String("slug").NotEmpty().MaxLen(255).
			Comment("URL handle, unique per merchant."),
		field.Text("description").Optional(),
		field.UUID("parent_id", uuidType()).Optional().Nillable().
			Comment("Parent category; null for a root category."),
		field.Int("position").Default(0).
			Comment("Display order among siblings (ascending); reordering rewrites it.").
			Annotations(entgql.OrderField("POSITION")),
		field.String("image_url").MaxLen(2048).Optional().
			Comment("Banner or thumbnail image of the category."),
		field.String("seo_title").MaxLen(255).Optional(),
		field.String("seo_description").MaxLen(512).Optional(),
		field.Bool("published").Default(true).
			Comment("Whether the storefront shows the category (and its subtree)."),
	}
}

// Edges of the ProductCategory.
func (ProductCategory) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("children", ProductCategory.Type).
			Annotations(entgql.RelayConnection()).
			From("parent").Field("parent_id").Unique(),
		edge.To("products", Product.Type).
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes of the ProductCategory.
func (ProductCategory) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "slug").Unique(),
		index.Fields("parent_id", "position"),
		index.Fields("merchant_id", "position"),
	}
}

// ProductImage is a picture of a product, optionally of one variant. It is
// either an external URL or an upload kept in object storage (storage_key).
type ProductImage struct{ ent.Schema }

// Annotations of the ProductImage.
func (ProductImage) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "product_images"}}
}

// Mixin of the ProductImage.
func (ProductImage) Mixin() []ent.Mixin { return base("product_images") }

// Fields of the ProductImage.
func (ProductImage) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("product_id", uuidType()).Immutable(),
		field.UUID("variant_id", uuidType()).Optional().Nillable().
			Comment("Set when the image shows one variant (selected with it on the storefront)."),
		field.String("url").NotEmpty().MaxLen(2048).
			Comment("Public URL the storefront loads (CDN URL of an upload)."),
		field.String("alt_text").MaxLen(512).Optional().
			Comment("Alternative text for accessibility and image search."),
		field.Int("position").Default(0).
			Comment("Display order in the product gallery (ascending)."),
		field.Bool("featured").Default(false).
			Comment("The product's main image (featuredImage); at most one per product."),
		field.Int("width").Optional().Nillable().Positive().
			Comment("Pixel width, when known."),
		field.Int("height").Optional().Nillable().Positive().
			Comment("Pixel height, when known."),
		field.String("content_type").MaxLen(100).Optional().
			Comment("MIME type, e.g. image/webp."),
		field.Int64("size_bytes").Optional().Nillable().NonNegative(),
		field.String("storage_key").MaxLen(1024).Optional().
			Comment("Object-storage key of an uploaded file; empty for an external URL."),
	}
}

// Edges of the ProductImage.
func (ProductImage) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("product", Product.Type).Ref("images").Field("product_id").
			Unique().Required().Immutable(),
		edge.From("variant", ProductVariant.Type).Ref("images").Field("variant_id").Unique(),
	}
}

// Indexes of the ProductImage.
func (ProductImage) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("product_id", "position"),
		// A page's images and featured images (see ProductVariant).
		index.Fields("merchant_id", "product_id", "position"),
		index.Fields("variant_id"),
	}
}

// InventoryLevel is the stock of one variant in one warehouse. Available is
// quantity_on_hand - quantity_reserved; checkout reserves, fulfilment
// decrements on hand, and falling to or below low_stock_threshold raises an
// inventory alert.
type InventoryLevel struct{ ent.Schema }

// Annotations of the InventoryLevel.
func (InventoryLevel) Annotations() []schema.Annotation {
	return append(adminList("products:read"), entsql.Annotation{Table: "inventory"})
}

// Mixin of the InventoryLevel.
func (InventoryLevel) Mixin() []ent.Mixin { return base("inventory") }

// Fields of the InventoryLevel.
func (InventoryLevel) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("variant_id", uuidType()).Immutable(),
		field.UUID("warehouse_id", uuidType()).Immutable(),
		field.Int("quantity_on_hand").Default(0).
			Comment("Units physically in the warehouse; changed only through inventory adjustments and fulfilment.").
			Annotations(entgql.OrderField("QUANTITY_ON_HAND")),
		field.Int("quantity_reserved").Default(0).NonNegative().
			Comment("Units held by placed, unfulfilled orders."),
		field.Int("quantity_incoming").Default(0).NonNegative().
			Comment("Units on order from suppliers, not yet received."),
		field.Int("low_stock_threshold").Default(0).NonNegative().
			Comment("Alert when available falls to or below this (0: only when sold out)."),
		field.Time("low_stock_alerted_at").Optional().Nillable().
			Comment("When the last low-stock alert fired; cleared on restock so one dip alerts once."),
		field.String("bin_location").MaxLen(100).Optional().
			Comment("Shelf or bin of the stock in the warehouse, for picking."),
		field.Time("last_counted_at").Optional().Nillable().
			Comment("Time of the last physical stock count."),
	}
}

// Edges of the InventoryLevel.
func (InventoryLevel) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("variant", ProductVariant.Type).Ref("inventory_levels").Field("variant_id").
			Unique().Required().Immutable(),
		edge.From("warehouse", Warehouse.Type).Ref("inventory_levels").Field("warehouse_id").
			Unique().Required().Immutable(),
	}
}

// Indexes of the InventoryLevel.
func (InventoryLevel) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "variant_id", "warehouse_id").Unique(),
		index.Fields("variant_id"),
		index.Fields("warehouse_id", "quantity_on_hand"),
	}
}

// Warehouse is a place stock is kept and shipped from (a location).
type Warehouse struct{ ent.Schema }

// Annotations of the Warehouse.
func (Warehouse) Annotations() []schema.Annotation {
	return append(adminList("settings:read"), entsql.Annotation{Table: "warehouses"})
}

// Mixin of the Warehouse.
func (Warehouse) Mixin() []ent.Mixin { return base("warehouses") }

// Fields of the Warehouse.
func (Warehouse) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("code").NotEmpty().MaxLen(50).
			Comment("Short identifier used in imports and APIs, unique per merchant (e.g. MAIN)."),
		field.String("address1").MaxLen(255).Optional(),
		field.String("address2").MaxLen(255).Optional(),
		field.String("city").MaxLen(120).Optional(),
		field.String("province").MaxLen(120).Optional().
			Comment("State, province or region."),
		field.String("postal_code").MaxLen(20).Optional(),
		field.String("country_code").MaxLen(2).Optional().
			Comment("ISO 3166-1 alpha-2 country (origin for shipping and tax)."),
		field.String("phone").MaxLen(32).Optional(),
		field.Bool("is_default").Default(false).
			Comment("Where stock is reserved and adjusted when no warehouse is given; one per merchant."),
		field.Bool("active").Default(true).
			Comment("Inactive warehouses keep their history but take no reservations."),
		field.Bool("fulfills_online_orders").Default(true).
			Comment("Whether storefront orders may be allocated to this warehouse."),
	}
}

// Edges of the Warehouse.
func (Warehouse) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("inventory_levels", InventoryLevel.Type).
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes of the Warehouse.
func (Warehouse) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "code").Unique(),
		index.Fields("merchant_id", "is_default"),
		index.Fields("merchant_id", "active"),
	}
}

// StorefrontConfig is a merchant's storefront settings: identity, theme,
// pricing/tax display, checkout rules and SEO defaults. One per merchant.
type StorefrontConfig struct{ ent.Schema }

// Annotations of the StorefrontConfig.
func (StorefrontConfig) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "storefront_configs"}}
}

// Mixin of the StorefrontConfig.
func (StorefrontConfig) Mixin() []ent.Mixin { return base("storefront_configs") }

// Fields of the StorefrontConfig.
func (StorefrontConfig) Fields() []ent.Field {
	return []ent.Field{
		field.String("store_name").MaxLen(200).Default("").
			Comment("Name shown on the storefront; the merchant's name when empty."),
		field.Text("store_description").Optional(),
		field.String("support_email").MaxLen(254).Optional().
			Comment("Customer-facing contact address, also the reply-to of store emails."),
		field.String("domain").MaxLen(253).Optional().Nillable().
			Comment("Custom storefront host name, unique across the platform; null when none."),
		field.String("default_locale").MaxLen(35).Default("en").
			Comment("BCP 47 language tag of the storefront's content."),
		field.JSON("theme", map[string]any{}).Optional().
			Comment("Theme settings: colours, fonts, layout choices.").
			Annotations(entgql.Type("Map")),
		field.JSON("branding", map[string]any{}).Optional().
			Comment("Brand assets: logo, favicon and cover image URLs, brand colours.").
			Annotations(entgql.Type("Map")),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD").
			Comment("Currency the storefront prices and checks out in."),
		field.Int("tax_rate_bps").Default(0).NonNegative().
			Comment("Default tax rate in basis points (825 = 8.25%)."),
		field.Bool("prices_include_tax").Default(false).
			Comment("Whether catalogue prices already include tax (VAT style)."),
		field.Int("next_order_number").Default(1001).Positive().
			Comment("Number the store's next order gets (#1001 first); checkout takes it under this row's lock.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("guest_checkout").Default(true).
			Comment("Whether buyers may check out without a customer account."),
		field.Bool("published").Default(false).
			Comment("Whether the storefront is open to the public. Until it is, storefront fields answer STORE_NOT_PUBLISHED to everyone but the store's staff and secret keys."),
		field.Bool("show_stock_quantity").Default(true).
			Comment("Whether storefront visitors and customers see a variant's exact quantityAvailable; when false it is null for them and they see only whether the variant is available. Staff and secret keys always see it."),
		field.String("seo_title").MaxLen(255).Optional().
			Comment("Default page title for pages without their own."),
		field.String("seo_description").MaxLen(512).Optional().
			Comment("Default meta description."),
		field.String("seo_image_url").MaxLen(2048).Optional().
			Comment("Default social sharing (Open Graph) image."),
		field.JSON("social_links", map[string]any{}).Optional().
			Comment(`Social profile URLs by network, e.g. {"instagram":"https://…"}.`).
			Annotations(entgql.Type("Map")),
	}
}

// Indexes of the StorefrontConfig.
func (StorefrontConfig) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id").Unique().StorageKey("storefront_configs_merchant_id_key"),
		index.Fields("domain").Unique(),
	}
}
