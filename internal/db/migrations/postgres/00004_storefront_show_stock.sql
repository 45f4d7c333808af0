-- The merchant's switch for exact stock on the storefront
-- (schema/catalog.go StorefrontConfig.show_stock_quantity, docs/storefront.md):
-- when false, storefront visitors and customers get a null
-- ProductVariant.quantityAvailable. True by default, as before the switch.

-- +goose Up
ALTER TABLE "storefront_configs" ADD COLUMN "show_stock_quantity" boolean NOT NULL DEFAULT true;

-- +goose Down
ALTER TABLE "storefront_configs" DROP COLUMN "show_stock_quantity";
