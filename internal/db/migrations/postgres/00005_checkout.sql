-- Checkout, orders and payments (issue 6; schema/checkout.go, docs/checkout.md):
-- combinable discount codes, warehouse allocations of order lines, the
-- checkoutComplete idempotency fingerprint, stock holds of unpaid orders,
-- free-over and weight-band shipping, cart billing addresses and the
-- per-store order number counter.

-- +goose Up
ALTER TABLE "discounts" ADD COLUMN "combinable" boolean NOT NULL DEFAULT false;
ALTER TABLE "order_items" ADD COLUMN "allocations" jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE "order_items" ALTER COLUMN "allocations" DROP DEFAULT;
ALTER TABLE "orders" ADD COLUMN "idempotency_fingerprint" character varying NULL, ADD COLUMN "stock_hold_expires_at" timestamptz NULL, ADD COLUMN "stock_released" boolean NOT NULL DEFAULT false, ADD COLUMN "delivered_at" timestamptz NULL;
CREATE INDEX "order_status_stock_hold_expires_at" ON "orders" ("status", "stock_hold_expires_at");
ALTER TABLE "shipping_methods" ADD COLUMN "free_over_amount" bigint NULL, ADD COLUMN "weight_bands" jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE "shipping_methods" ALTER COLUMN "weight_bands" DROP DEFAULT;
ALTER TABLE "shopping_carts" ADD COLUMN "billing_address" jsonb NULL;
ALTER TABLE "storefront_configs" ADD COLUMN "next_order_number" bigint NOT NULL DEFAULT 1001;
-- Stores with orders already continue after their highest number.
UPDATE "storefront_configs" c SET "next_order_number" = o.n + 1
  FROM (SELECT merchant_id, max(order_number) AS n FROM orders GROUP BY merchant_id) o
  WHERE o.merchant_id = c.merchant_id AND o.n >= c.next_order_number;

-- +goose Down
ALTER TABLE "storefront_configs" DROP COLUMN "next_order_number";
ALTER TABLE "shopping_carts" DROP COLUMN "billing_address";
ALTER TABLE "shipping_methods" DROP COLUMN "free_over_amount", DROP COLUMN "weight_bands";
DROP INDEX "order_status_stock_hold_expires_at";
ALTER TABLE "orders" DROP COLUMN "idempotency_fingerprint", DROP COLUMN "stock_hold_expires_at", DROP COLUMN "stock_released", DROP COLUMN "delivered_at";
ALTER TABLE "order_items" DROP COLUMN "allocations";
ALTER TABLE "discounts" DROP COLUMN "combinable";
