package db_test

import (
	"context"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/apikey"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/ent/automationworkflow"
	"github.com/omnisphere/omnisphere/ent/capturepopup"
	"github.com/omnisphere/omnisphere/ent/cartitem"
	"github.com/omnisphere/omnisphere/ent/customer"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/ent/discount"
	"github.com/omnisphere/omnisphere/ent/discountredemption"
	"github.com/omnisphere/omnisphere/ent/emailcampaign"
	"github.com/omnisphere/omnisphere/ent/emailclick"
	"github.com/omnisphere/omnisphere/ent/emailopen"
	"github.com/omnisphere/omnisphere/ent/emailsend"
	"github.com/omnisphere/omnisphere/ent/emailtemplate"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/orderaddress"
	"github.com/omnisphere/omnisphere/ent/orderitem"
	"github.com/omnisphere/omnisphere/ent/orderpayment"
	"github.com/omnisphere/omnisphere/ent/outboxevent"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productcategory"
	"github.com/omnisphere/omnisphere/ent/productimage"
	"github.com/omnisphere/omnisphere/ent/productvariant"
	"github.com/omnisphere/omnisphere/ent/refreshtoken"
	"github.com/omnisphere/omnisphere/ent/refund"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/ent/shippingmethod"
	"github.com/omnisphere/omnisphere/ent/shoppingcart"
	"github.com/omnisphere/omnisphere/ent/storefrontconfig"
	"github.com/omnisphere/omnisphere/ent/user"
	"github.com/omnisphere/omnisphere/ent/warehouse"
	"github.com/omnisphere/omnisphere/ent/workflowenrollment"
	"github.com/omnisphere/omnisphere/ent/workflowstep"
)

// entCounters counts, through ent (the resolvers' path), the rows of every
// tenant table whose merchant_id is m.
func entCounters(c *ent.Client) map[string]func(ctx context.Context, m uuid.UUID) (int, error) {
	return map[string]func(ctx context.Context, m uuid.UUID) (int, error){
		"api_keys": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.APIKey.Query().Where(apikey.MerchantID(m)).Count(ctx)
		},
		"audit_logs": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.AuditLog.Query().Where(auditlog.MerchantID(m)).Count(ctx)
		},
		"automation_workflows": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.AutomationWorkflow.Query().Where(automationworkflow.MerchantID(m)).Count(ctx)
		},
		"capture_popups": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.CapturePopup.Query().Where(capturepopup.MerchantID(m)).Count(ctx)
		},
		"cart_items": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.CartItem.Query().Where(cartitem.MerchantID(m)).Count(ctx)
		},
		"customers": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.Customer.Query().Where(customer.MerchantID(m)).Count(ctx)
		},
		"customer_events": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.CustomerEvent.Query().Where(customerevent.MerchantID(m)).Count(ctx)
		},
		"customer_segments": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.CustomerSegment.Query().Where(customersegment.MerchantID(m)).Count(ctx)
		},
		"discounts": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.Discount.Query().Where(discount.MerchantID(m)).Count(ctx)
		},
		"discount_redemptions": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.DiscountRedemption.Query().Where(discountredemption.MerchantID(m)).Count(ctx)
		},
		"email_campaigns": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.EmailCampaign.Query().Where(emailcampaign.MerchantID(m)).Count(ctx)
		},
		"email_clicks": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.EmailClick.Query().Where(emailclick.MerchantID(m)).Count(ctx)
		},
		"email_opens": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.EmailOpen.Query().Where(emailopen.MerchantID(m)).Count(ctx)
		},
		"email_sends": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.EmailSend.Query().Where(emailsend.MerchantID(m)).Count(ctx)
		},
		"email_templates": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.EmailTemplate.Query().Where(emailtemplate.MerchantID(m)).Count(ctx)
		},
		"inventory": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.InventoryLevel.Query().Where(inventorylevel.MerchantID(m)).Count(ctx)
		},
		"orders": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.Order.Query().Where(order.MerchantID(m)).Count(ctx)
		},
		"order_addresses": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.OrderAddress.Query().Where(orderaddress.MerchantID(m)).Count(ctx)
		},
		"order_items": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.OrderItem.Query().Where(orderitem.MerchantID(m)).Count(ctx)
		},
		"order_payments": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.OrderPayment.Query().Where(orderpayment.MerchantID(m)).Count(ctx)
		},
		"outbox_events": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.OutboxEvent.Query().Where(outboxevent.MerchantID(m)).Count(ctx)
		},
		"products": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.Product.Query().Where(product.MerchantID(m)).Count(ctx)
		},
		"product_categories": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.ProductCategory.Query().Where(productcategory.MerchantID(m)).Count(ctx)
		},
		"product_images": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.ProductImage.Query().Where(productimage.MerchantID(m)).Count(ctx)
		},
		"product_variants": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.ProductVariant.Query().Where(productvariant.MerchantID(m)).Count(ctx)
		},
		"refresh_tokens": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.RefreshToken.Query().Where(refreshtoken.MerchantID(m)).Count(ctx)
		},
		"refunds": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.Refund.Query().Where(refund.MerchantID(m)).Count(ctx)
		},
		"segment_members": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.SegmentMember.Query().Where(segmentmember.MerchantID(m)).Count(ctx)
		},
		"shipping_methods": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.ShippingMethod.Query().Where(shippingmethod.MerchantID(m)).Count(ctx)
		},
		"shopping_carts": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.ShoppingCart.Query().Where(shoppingcart.MerchantID(m)).Count(ctx)
		},
		"storefront_configs": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.StorefrontConfig.Query().Where(storefrontconfig.MerchantID(m)).Count(ctx)
		},
		"users": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.User.Query().Where(user.MerchantID(m)).Count(ctx)
		},
		"warehouses": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.Warehouse.Query().Where(warehouse.MerchantID(m)).Count(ctx)
		},
		"workflow_enrollments": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.WorkflowEnrollment.Query().Where(workflowenrollment.MerchantID(m)).Count(ctx)
		},
		"workflow_steps": func(ctx context.Context, m uuid.UUID) (int, error) {
			return c.WorkflowStep.Query().Where(workflowstep.MerchantID(m)).Count(ctx)
		},
	}
}
