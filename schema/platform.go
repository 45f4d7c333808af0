package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// uuidType is the Go type of every UUID column.
func uuidType() uuid.UUID { return uuid.UUID{} }

// WebhookEvent is an inbound event from a provider (Stripe), kept so that
// each event is processed once and failed ones can be retried. It belongs to
// no tenant when it arrives: only the system path reads or writes it.
type WebhookEvent struct{ ent.Schema }

// Annotations of the WebhookEvent.
func (WebhookEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Table: "webhook_events"},
		entgql.RelayConnection(),
		entgql.QueryField().Directives(authDirective(scopePlatformAdmin, "")),
	}
}

// Mixin of the WebhookEvent.
func (WebhookEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Table: "webhook_events"}, TimeMixin{}}
}

// Fields of the WebhookEvent.
func (WebhookEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("provider").Values("STRIPE").Default("STRIPE"),
		field.String("event_id").NotEmpty().MaxLen(255).
			Comment("The provider's event id (evt_…), unique across the platform."),
		field.String("type").NotEmpty().MaxLen(100).
			Annotations(entgql.OrderField("TYPE")),
		field.String("account_id").MaxLen(255).Optional().
			Comment("Connected account the event is about, if any."),
		field.UUID("merchant_id", uuidType()).Optional().Nillable().
			Comment("Merchant resolved from account_id; null until resolved."),
		field.Bool("livemode").Default(false),
		field.String("api_version").MaxLen(32).Optional(),
		field.JSON("payload", map[string]any{}).Annotations(entgql.Type("Map")),
		field.Enum("status").Values("RECEIVED", "PROCESSING", "PROCESSED", "FAILED", "IGNORED").
			Default("RECEIVED"),
		field.Int("attempts").Default(0).NonNegative(),
		field.String("last_error").MaxLen(2000).Optional(),
		field.Time("received_at").Immutable().Default(nowUTC),
		field.Time("processed_at").Optional().Nillable(),
		field.Time("next_attempt_at").Optional().Nillable(),
	}
}

// Indexes of the WebhookEvent.
func (WebhookEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("provider", "event_id").Unique(),
		index.Fields("status", "next_attempt_at"),
		index.Fields("merchant_id"),
	}
}

// OutboxEvent is a domain event written in the same transaction as the
// change it describes; a relay publishes it to subscribers and triggers.
type OutboxEvent struct{ ent.Schema }

// Annotations of the OutboxEvent.
func (OutboxEvent) Annotations() []schema.Annotation {
	return append(adminList("events:read"), entsql.Annotation{Table: "outbox_events"})
}

// Mixin of the OutboxEvent.
func (OutboxEvent) Mixin() []ent.Mixin { return base("outbox_events") }

// Fields of the OutboxEvent.
func (OutboxEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("topic").NotEmpty().MaxLen(100).
			Comment("Event type, e.g. order.paid, inventory.low, customer.event.").
			Annotations(entgql.OrderField("TOPIC")),
		field.String("aggregate_type").MaxLen(100).Optional(),
		field.String("aggregate_id").MaxLen(100).Optional(),
		field.JSON("payload", map[string]any{}).Annotations(entgql.Type("Map")),
		field.Enum("status").Values("PENDING", "PUBLISHED", "FAILED").Default("PENDING"),
		field.Int("attempts").Default(0).NonNegative(),
		field.String("last_error").MaxLen(2000).Optional(),
		field.Time("available_at").Default(nowUTC).
			Comment("Not relayed before this time (retry back-off)."),
		field.Time("published_at").Optional().Nillable(),
	}
}

// Indexes of the OutboxEvent.
func (OutboxEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "available_at"),
		index.Fields("merchant_id", "topic", "created_at"),
	}
}
