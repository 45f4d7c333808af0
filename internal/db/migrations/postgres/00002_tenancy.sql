-- Tenancy: the roles the server switches to and forced row-level security on
-- every table. The server connects as the DATABASE_URL role (which owns the
-- tables and runs these migrations) and runs every transaction as one of:
--   omnisphere_app     tenant work; sees rows of app.merchant_id only
--   omnisphere_system  the audited cross-tenant paths (login by email, webhook
--                      intake, workers); sees all rows
-- Neither is superuser, BYPASSRLS, or the owner of anything. FORCE makes the
-- owner subject to the policies too, and the owner has no policy: it reads
-- nothing through them. A missing or empty app.merchant_id matches no row
-- (NULLIF avoids a cast error on the empty string a pooled session keeps).

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['omnisphere_app', 'omnisphere_system'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- created meanwhile by a migration of another database
      END;
    END IF;
    -- The connecting role must be a member to SET ROLE (superusers are).
    IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
      EXECUTE format('GRANT %I TO %I', r, current_user);
    END IF;
  END LOOP;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO omnisphere_app, omnisphere_system', current_schema());
END
$$;
-- +goose StatementEnd

-- omnisphere_fence puts a table behind forced RLS on a tenant column. Every
-- migration that adds a tenant table calls it (see docs/migrations.md).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION omnisphere_fence(tbl regclass, tenant_column name) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s FOR ALL TO omnisphere_app'
    ' USING (%I = NULLIF(current_setting(''app.merchant_id'', true), '''')::uuid)'
    ' WITH CHECK (%I = NULLIF(current_setting(''app.merchant_id'', true), '''')::uuid)',
    tbl, tenant_column, tenant_column);
  EXECUTE format('DROP POLICY IF EXISTS system_access ON %s', tbl);
  EXECUTE format('CREATE POLICY system_access ON %s FOR ALL TO omnisphere_system USING (true) WITH CHECK (true)', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO omnisphere_app, omnisphere_system', tbl);
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION omnisphere_fence(regclass, name) FROM PUBLIC;

SELECT omnisphere_fence('merchant_accounts', 'id');
SELECT omnisphere_fence('users', 'merchant_id');
SELECT omnisphere_fence('api_keys', 'merchant_id');
SELECT omnisphere_fence('audit_logs', 'merchant_id');
SELECT omnisphere_fence('refresh_tokens', 'merchant_id');
SELECT omnisphere_fence('products', 'merchant_id');
SELECT omnisphere_fence('product_variants', 'merchant_id');
SELECT omnisphere_fence('product_categories', 'merchant_id');
SELECT omnisphere_fence('product_images', 'merchant_id');
SELECT omnisphere_fence('inventory', 'merchant_id');
SELECT omnisphere_fence('warehouses', 'merchant_id');
SELECT omnisphere_fence('storefront_configs', 'merchant_id');
SELECT omnisphere_fence('shopping_carts', 'merchant_id');
SELECT omnisphere_fence('cart_items', 'merchant_id');
SELECT omnisphere_fence('orders', 'merchant_id');
SELECT omnisphere_fence('order_items', 'merchant_id');
SELECT omnisphere_fence('order_addresses', 'merchant_id');
SELECT omnisphere_fence('discounts', 'merchant_id');
SELECT omnisphere_fence('order_payments', 'merchant_id');
SELECT omnisphere_fence('refunds', 'merchant_id');
SELECT omnisphere_fence('shipping_methods', 'merchant_id');
SELECT omnisphere_fence('discount_redemptions', 'merchant_id');
SELECT omnisphere_fence('customers', 'merchant_id');
SELECT omnisphere_fence('customer_events', 'merchant_id');
SELECT omnisphere_fence('customer_segments', 'merchant_id');
SELECT omnisphere_fence('segment_members', 'merchant_id');
SELECT omnisphere_fence('email_campaigns', 'merchant_id');
SELECT omnisphere_fence('email_templates', 'merchant_id');
SELECT omnisphere_fence('automation_workflows', 'merchant_id');
SELECT omnisphere_fence('workflow_steps', 'merchant_id');
SELECT omnisphere_fence('workflow_enrollments', 'merchant_id');
SELECT omnisphere_fence('email_sends', 'merchant_id');
SELECT omnisphere_fence('email_opens', 'merchant_id');
SELECT omnisphere_fence('email_clicks', 'merchant_id');
SELECT omnisphere_fence('capture_popups', 'merchant_id');
SELECT omnisphere_fence('outbox_events', 'merchant_id');

-- webhook_events arrive before their merchant is known: the system path only.
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events FORCE ROW LEVEL SECURITY;
CREATE POLICY system_access ON webhook_events FOR ALL TO omnisphere_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_events TO omnisphere_system;

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND rowsecurity LOOP
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t.tablename);
    EXECUTE format('DROP POLICY IF EXISTS system_access ON %I', t.tablename);
    EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t.tablename);
    EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t.tablename);
    EXECUTE format('REVOKE ALL ON %I FROM omnisphere_app, omnisphere_system', t.tablename);
  END LOOP;
END
$$;
-- +goose StatementEnd
DROP FUNCTION IF EXISTS omnisphere_fence(regclass, name);
