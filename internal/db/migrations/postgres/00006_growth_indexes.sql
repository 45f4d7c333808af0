-- Indexes of the growth overview (issue 8; internal/marketing/analytics,
-- docs/analytics.md): paid orders by payment time, and tracked storefront
-- sessions by time, each answered from the index alone.

-- +goose Up
CREATE INDEX "order_merchant_id_paid_at" ON "orders" ("merchant_id", "paid_at") INCLUDE ("currency", "total_amount", "customer_id", "email") WHERE paid_at IS NOT NULL;
CREATE INDEX "customerevent_merchant_id_occurred_at_session" ON "customer_events" ("merchant_id", "occurred_at") INCLUDE ("session_id", "type") WHERE session_id IS NOT NULL;

-- +goose Down
DROP INDEX "customerevent_merchant_id_occurred_at_session";
DROP INDEX "order_merchant_id_paid_at";
