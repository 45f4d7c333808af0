-- The storefront read path (internal/storefront, docs/storefront.md).
--
-- 1. A page's variants and images are loaded by product_id under the tenant
--    filter: composite indexes serve both (schema/catalog.go).
--
-- 2. Text search: GIN indexes over the search documents of products (title
--    A, tags B, description C) and of variants (SKU). They are expression
--    indexes, which ent's schema does not describe, so `migrate diff` stays
--    empty. The expressions must stay exactly those of
--    internal/storefront/search.go, or the planner cannot use them
--    (TestSearchUsesTheGINIndexes). Text is split into words at every
--    character that is not a letter or a digit and lower-cased by the
--    'simple' configuration (no stemming, no stop words), as SQLite's FTS5
--    unicode61 tokenizer does (internal/db/search.go), so both backends find
--    the same products.

-- +goose Up
CREATE INDEX "productimage_merchant_id_product_id_position" ON "product_images" ("merchant_id", "product_id", "position");
CREATE INDEX "productvariant_merchant_id_product_id_position" ON "product_variants" ("merchant_id", "product_id", "position");

CREATE INDEX products_search ON products USING GIN ((
  setweight(to_tsvector('simple'::regconfig, regexp_replace(title, '[^[:alnum:]]+', ' ', 'g')), 'A') ||
  setweight(to_tsvector('simple'::regconfig, regexp_replace(tags::text, '[^[:alnum:]]+', ' ', 'g')), 'B') ||
  setweight(to_tsvector('simple'::regconfig, regexp_replace(COALESCE(description, ''), '[^[:alnum:]]+', ' ', 'g')), 'C')
));

CREATE INDEX product_variants_sku_search ON product_variants USING GIN ((
  to_tsvector('simple'::regconfig, regexp_replace(sku, '[^[:alnum:]]+', ' ', 'g'))
));

-- +goose Down
DROP INDEX IF EXISTS product_variants_sku_search;
DROP INDEX IF EXISTS products_search;
DROP INDEX IF EXISTS productvariant_merchant_id_product_id_position;
DROP INDEX IF EXISTS productimage_merchant_id_product_id_position;
