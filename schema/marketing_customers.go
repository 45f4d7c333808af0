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

// Customer is a shopper of one store: the CDP profile the marketing engine
// segments and mails (consent, lifetime value, order statistics, tags,
// custom properties, acquisition source) and, when password_hash is set, the
// storefront account the customer signs in with. Guests who only checked out
// or left their email in a popup have a profile without a password.
type Customer struct{ ent.Schema }

// Annotations of the Customer.
func (Customer) Annotations() []schema.Annotation {
	return append(adminList("customers:read"), entsql.Annotation{Table: "customers"})
}

// Mixin of the Customer.
func (Customer) Mixin() []ent.Mixin { return base("customers") }

// Fields of the Customer.
func (Customer) Fields() []ent.Field {
	return []ent.Field{
		// Identity and storefront account.
		field.String("email").NotEmpty().MaxLen(254).
			Comment("Email, stored lower-cased; unique per merchant and the login of the storefront account.").
			Annotations(entgql.OrderField("EMAIL")),
		field.String("password_hash").Optional().Sensitive().
			Comment("Storefront password hash; empty for guests and captured subscribers.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("email_verified").Default(false).
			Comment("The customer proved ownership of the email (verification link or confirmed opt-in)."),
		field.String("first_name").MaxLen(100).Default("").
			Annotations(entgql.OrderField("FIRST_NAME")),
		field.String("last_name").MaxLen(100).Default("").
			Annotations(entgql.OrderField("LAST_NAME")),
		field.String("phone").MaxLen(32).Optional().
			Comment("Phone number in E.164 form, used for SMS."),
		field.Enum("status").Values("ACTIVE", "DISABLED", "DELETED").Default("ACTIVE").
			Comment("DISABLED blocks storefront sign-in; DELETED is a GDPR-erased profile kept for order history."),
		field.Time("last_login_at").Optional().Nillable(),
		field.Int("failed_login_count").Default(0).NonNegative().
			Comment("Consecutive failed storefront sign-ins; reset on success."),
		field.Time("locked_until").Optional().Nillable().
			Comment("Storefront sign-in is refused until this time after too many failures."),
		field.Time("deleted_at").Optional().Nillable(),

		// Email and SMS consent.
		field.Enum("email_consent").
			Values("SUBSCRIBED", "UNSUBSCRIBED", "PENDING", "BOUNCED", "COMPLAINED").
			Default("UNSUBSCRIBED").
			Comment("Email marketing state: PENDING awaits double opt-in confirmation; BOUNCED and COMPLAINED are set by the mailer and suppress sending. The customer accepts marketing iff SUBSCRIBED."),
		field.Enum("email_opt_in_level").Values("SINGLE_OPT_IN", "CONFIRMED_OPT_IN", "UNKNOWN").
			Default("UNKNOWN").
			Comment("How the email subscription was obtained (confirmed = double opt-in)."),
		field.Enum("email_consent_source").
			Values("STOREFRONT", "CHECKOUT", "POPUP", "ADMIN", "IMPORT", "API").
			Optional().
			Comment("Where the last email consent change came from (proof of consent)."),
		field.String("email_consent_ip").MaxLen(64).Optional().
			Comment("IP address the consent was given from (proof of consent)."),
		field.Time("email_consented_at").Optional().Nillable().
			Comment("When the customer last subscribed to email marketing."),
		field.Time("email_unsubscribed_at").Optional().Nillable().
			Comment("When the customer last unsubscribed (link, one-click or admin)."),
		field.Enum("sms_consent").Values("SUBSCRIBED", "UNSUBSCRIBED", "PENDING").
			Default("UNSUBSCRIBED").
			Comment("SMS marketing state; requires a phone."),
		field.Time("sms_consented_at").Optional().Nillable().
			Comment("When the SMS consent state last changed."),

		// Profile and location.
		field.String("locale").MaxLen(35).Optional().
			Comment("Preferred language as a BCP 47 tag, e.g. en-US; picks the email template language."),
		field.String("timezone").MaxLen(64).Optional().
			Comment("IANA time zone, e.g. Europe/Paris; used for send-time localisation."),
		field.String("country").MaxLen(2).Optional().
			Comment("ISO 3166-1 alpha-2 country code."),
		field.String("city").MaxLen(100).Optional(),
		field.JSON("tags", []string{}).Default([]string{}).
			Comment("Merchant-defined labels, usable in segment rules."),
		field.JSON("properties", map[string]any{}).Optional().
			Comment("Custom profile attributes set by the merchant or identify calls, usable in segment rules.").
			Annotations(entgql.Type("Map")),
		field.String("note").MaxLen(5000).Optional().
			Comment("Internal staff note, never shown to the customer."),

		// Order statistics, maintained by order placement and refunds.
		field.Int64("lifetime_value_amount").Default(0).
			Comment("Total paid minus refunded over all orders, in minor units of currency.").
			Annotations(entgql.OrderField("LIFETIME_VALUE")),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD").
			Comment("Currency of the money statistics (the store's currency)."),
		field.Int("order_count").Default(0).NonNegative().
			Comment("Number of paid orders.").
			Annotations(entgql.OrderField("ORDER_COUNT")),
		field.Int64("average_order_value_amount").Default(0).
			Comment("lifetime_value_amount / order_count, denormalised for sorting and segment rules.").
			Annotations(entgql.OrderField("AVERAGE_ORDER_VALUE")),
		field.Time("first_order_at").Optional().Nillable().
			Annotations(entgql.OrderField("FIRST_ORDER_AT")),
		field.Time("last_order_at").Optional().Nillable().
			Annotations(entgql.OrderField("LAST_ORDER_AT")),
		field.Time("last_seen_at").Optional().Nillable().
			Comment("Time of the customer's latest tracked event or sign-in.").
			Annotations(entgql.OrderField("LAST_SEEN_AT")),

		// Identity stitching and acquisition.
		field.String("anonymous_id").MaxLen(64).Optional().
			Comment("Storefront anonymous id last linked to this profile; its earlier anonymous events are attached on identify."),
		field.Enum("source").
			Values("STOREFRONT", "CHECKOUT", "POPUP", "ADMIN", "IMPORT", "API").
			Default("STOREFRONT").
			Comment("How the profile was first created."),
		field.String("utm_source").MaxLen(255).Optional().
			Comment("First-touch utm_source of the visit that created the profile."),
		field.String("utm_medium").MaxLen(255).Optional(),
		field.String("utm_campaign").MaxLen(255).Optional(),
		field.String("referrer").MaxLen(2048).Optional().
			Comment("First-touch referring URL."),
	}
}

// Edges of the Customer.
func (Customer) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("events", CustomerEvent.Type).
			Comment("The customer's activity timeline.").
			Annotations(entgql.RelayConnection()),
		edge.To("segment_memberships", SegmentMember.Type).
			Comment("The segments the customer belongs to."),
	}
}

// Indexes of the Customer.
func (Customer) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "email").Unique(),
		index.Fields("merchant_id", "last_order_at"),
		index.Fields("merchant_id", "lifetime_value_amount"),
		index.Fields("merchant_id", "order_count"),
		index.Fields("merchant_id", "last_seen_at"),
		index.Fields("merchant_id", "created_at"),
		index.Fields("merchant_id", "status"),
		index.Fields("merchant_id", "email_consent"),
		index.Fields("merchant_id", "anonymous_id"),
		index.Fields("merchant_id", "phone"),
	}
}

// CustomerEvent is one tracked behaviour (product_viewed, cart_updated,
// order_placed, email_opened, …) of a known customer or of an anonymous
// visitor; anonymous events are attached to the customer when the visitor is
// identified. Events feed the timeline, dynamic segments and workflow
// triggers.
type CustomerEvent struct{ ent.Schema }

// Annotations of the CustomerEvent.
func (CustomerEvent) Annotations() []schema.Annotation {
	return append(adminList("customers:read"), entsql.Annotation{Table: "customer_events"})
}

// Mixin of the CustomerEvent.
func (CustomerEvent) Mixin() []ent.Mixin { return base("customer_events") }

// Fields of the CustomerEvent.
func (CustomerEvent) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("customer_id", uuidType()).Optional().Nillable().
			Comment("The customer; null for an anonymous visitor until identified."),
		field.String("anonymous_id").MaxLen(64).Optional().
			Comment("Storefront anonymous visitor id (trackEvent anonymousId)."),
		field.String("type").NotEmpty().MaxLen(100).
			Comment("Event name in snake_case, e.g. product_viewed, cart_updated, checkout_started, order_placed.").
			Annotations(entgql.OrderField("TYPE")),
		field.JSON("properties", map[string]any{}).Optional().
			Comment("Event payload, e.g. product id, cart total, order id.").
			Annotations(entgql.Type("Map")),
		field.Enum("source").Values("STOREFRONT", "SERVER", "SYSTEM").Default("STOREFRONT").
			Comment("STOREFRONT: sent by the browser (untrusted); SERVER: sent with a secret key; SYSTEM: emitted by OmniSphere itself."),
		field.String("message_id").MaxLen(64).Optional().
			Comment("Client-supplied idempotency key; a repeated key in one store is dropped."),
		field.Int64("value_amount").Optional().Nillable().
			Comment("Monetary value of the event (e.g. order total), in minor units of currency."),
		field.String("currency").MinLen(3).MaxLen(3).Default("USD"),
		field.String("session_id").MaxLen(64).Optional().
			Comment("Storefront browsing session the event belongs to."),
		field.String("page_url").MaxLen(2048).Optional(),
		field.String("referrer").MaxLen(2048).Optional(),
		field.String("ip").MaxLen(64).Optional(),
		field.String("user_agent").MaxLen(512).Optional(),
		field.Time("occurred_at").Default(nowUTC).Immutable().
			Comment("When the event happened, as reported by the sender.").
			Annotations(entgql.OrderField("OCCURRED_AT")),
		field.Time("received_at").Default(nowUTC).Immutable().
			Comment("When the server accepted the event."),
	}
}

// Edges of the CustomerEvent.
func (CustomerEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("customer", Customer.Type).Ref("events").Field("customer_id").Unique(),
	}
}

// Indexes of the CustomerEvent.
func (CustomerEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "type", "occurred_at"),
		index.Fields("customer_id", "occurred_at"),
		index.Fields("merchant_id", "occurred_at"),
		// Tracked sessions of the growth overview's conversion.
		index.Fields("merchant_id", "occurred_at").StorageKey("customerevent_merchant_id_occurred_at_session").
			Annotations(entsql.IndexWhere("session_id IS NOT NULL"), entsql.IncludeColumns("session_id", "type")),
		index.Fields("merchant_id", "anonymous_id"),
		index.Fields("merchant_id", "message_id").Unique(),
	}
}

// CustomerSegment is a named group of customers: DYNAMIC segments are
// (re)computed from rules over profile fields and events, STATIC ones are
// maintained by hand or import. Campaigns, workflows and popups target them.
type CustomerSegment struct{ ent.Schema }

// Annotations of the CustomerSegment.
func (CustomerSegment) Annotations() []schema.Annotation {
	return append(adminList("marketing:read"), entsql.Annotation{Table: "customer_segments"})
}

// Mixin of the CustomerSegment.
func (CustomerSegment) Mixin() []ent.Mixin { return base("customer_segments") }

// Fields of the CustomerSegment.
func (CustomerSegment) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("Segment name, unique per merchant.").
			Annotations(entgql.OrderField("NAME")),
		field.String("description").MaxLen(2000).Optional(),
		field.JSON("rules", map[string]any{}).Optional().
			Comment("Rule tree of a DYNAMIC segment (and/or groups of conditions on profile fields, tags and events); unused for STATIC.").
			Annotations(entgql.Type("Map")),
		field.Enum("kind").Values("DYNAMIC", "STATIC").Default("DYNAMIC"),
		field.Enum("status").Values("ACTIVE", "PAUSED", "ARCHIVED").Default("ACTIVE").
			Comment("PAUSED stops re-evaluation; ARCHIVED hides the segment from targeting."),
		field.Int("member_count").Default(0).NonNegative().
			Comment("Number of members after the last evaluation or manual change.").
			Annotations(entgql.OrderField("MEMBER_COUNT")),
		field.Enum("evaluation_state").Values("IDLE", "QUEUED", "RUNNING", "FAILED").Default("IDLE").
			Comment("State of the background evaluation of a DYNAMIC segment."),
		field.String("last_evaluation_error").MaxLen(2000).Optional(),
		field.Time("last_evaluated_at").Optional().Nillable().
			Annotations(entgql.OrderField("LAST_EVALUATED_AT")),
	}
}

// Edges of the CustomerSegment.
func (CustomerSegment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("members", SegmentMember.Type).
			Annotations(entgql.RelayConnection()),
		edge.To("popups", CapturePopup.Type).
			Comment("Capture popups that add their subscribers to this segment."),
	}
}

// Indexes of the CustomerSegment.
func (CustomerSegment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "name").Unique(),
		index.Fields("merchant_id", "status"),
		index.Fields("merchant_id", "kind", "evaluation_state"),
	}
}

// SegmentMember puts one customer in one segment, either because the rules
// matched (RULE) or because staff or a popup added them (MANUAL).
type SegmentMember struct{ ent.Schema }

// Annotations of the SegmentMember.
func (SegmentMember) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Table: "segment_members"},
		entgql.RelayConnection(),
	}
}

// Mixin of the SegmentMember.
func (SegmentMember) Mixin() []ent.Mixin { return base("segment_members") }

// Fields of the SegmentMember.
func (SegmentMember) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("segment_id", uuidType()).Immutable(),
		field.UUID("customer_id", uuidType()).Immutable(),
		field.Time("added_at").Default(nowUTC).Immutable().
			Annotations(entgql.OrderField("ADDED_AT")),
		field.Enum("source").Values("RULE", "MANUAL").Default("RULE").
			Comment("RULE members are removed by re-evaluation when they stop matching; MANUAL ones stay until removed."),
	}
}

// Edges of the SegmentMember.
func (SegmentMember) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("segment", CustomerSegment.Type).Ref("members").
			Field("segment_id").Unique().Required().Immutable(),
		edge.From("customer", Customer.Type).Ref("segment_memberships").
			Field("customer_id").Unique().Required().Immutable(),
	}
}

// Indexes of the SegmentMember.
func (SegmentMember) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("segment_id", "customer_id").Unique(),
		index.Fields("segment_id", "added_at"),
		index.Fields("customer_id"),
	}
}

// CapturePopup is an email-capture form shown on the storefront (modal,
// slide-in or banner) under trigger, targeting and frequency rules; a
// submission creates or updates a subscribed customer, optionally adds them
// to a segment and reveals an incentive discount code.
type CapturePopup struct{ ent.Schema }

// Annotations of the CapturePopup.
func (CapturePopup) Annotations() []schema.Annotation {
	return append(adminList("marketing:read"), entsql.Annotation{Table: "capture_popups"})
}

// Mixin of the CapturePopup.
func (CapturePopup) Mixin() []ent.Mixin { return base("capture_popups") }

// Fields of the CapturePopup.
func (CapturePopup) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("Internal name shown in the admin.").
			Annotations(entgql.OrderField("NAME")),
		field.Enum("status").Values("DRAFT", "ACTIVE", "PAUSED").Default("DRAFT"),
		field.Enum("kind").Values("MODAL", "SLIDE_IN", "BANNER").Default("MODAL"),
		field.String("title").MaxLen(200).Default(""),
		field.String("body").MaxLen(5000).Default("").
			Comment("Body text shown under the title (plain text or limited HTML, sanitised on render)."),
		field.String("cta_text").MaxLen(100).Default("Subscribe").
			Comment("Label of the submit button."),
		field.String("success_message").MaxLen(1000).Default("").
			Comment("Shown after a successful submission."),
		field.String("incentive_discount_code").MaxLen(64).Optional().
			Comment("Discount code revealed after submission (a code of the discounts table)."),
		field.Bool("double_opt_in").Default(false).
			Comment("Submissions start as PENDING and are subscribed only after the confirmation email."),
		field.Enum("trigger").Values("ON_LOAD", "EXIT_INTENT", "SCROLL", "TIME_DELAY").Default("TIME_DELAY"),
		field.Int("trigger_value").Default(0).NonNegative().
			Comment("Seconds for TIME_DELAY, scroll depth percent for SCROLL; unused otherwise."),
		field.JSON("targeting", map[string]any{}).Optional().
			Comment("Where and to whom to show: path include/exclude patterns, devices, new vs returning visitors.").
			Annotations(entgql.Type("Map")),
		field.Int("frequency_cap_days").Default(7).NonNegative().
			Comment("Do not show again to the same visitor within this many days after a view or dismissal (0 = every visit)."),
		field.Int("priority").Default(0).
			Comment("When several popups match a page, the highest priority is shown."),
		field.Time("starts_at").Optional().Nillable().
			Annotations(entgql.OrderField("STARTS_AT")),
		field.Time("ends_at").Optional().Nillable(),
		field.Int("views_count").Default(0).NonNegative().
			Annotations(entgql.OrderField("VIEWS_COUNT")),
		field.Int("submissions_count").Default(0).NonNegative().
			Annotations(entgql.OrderField("SUBMISSIONS_COUNT")),
		field.UUID("segment_id", uuidType()).Optional().Nillable().
			Comment("Segment (normally STATIC) that submitters are added to."),
	}
}

// Edges of the CapturePopup.
func (CapturePopup) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("segment", CustomerSegment.Type).Ref("popups").Field("segment_id").Unique(),
	}
}

// Indexes of the CapturePopup.
func (CapturePopup) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "status", "priority"),
		index.Fields("segment_id"),
	}
}
