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

// MerchantAccount is a store: the tenant. Its id is the merchant_id of every
// tenant row; row-level security fences it on its own id.
type MerchantAccount struct{ ent.Schema }

// Annotations of the MerchantAccount.
func (MerchantAccount) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "merchant_accounts"}}
}

// Mixin of the MerchantAccount.
func (MerchantAccount) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Table: "merchant_accounts"}, TimeMixin{}}
}

// Fields of the MerchantAccount.
func (MerchantAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("slug").NotEmpty().MaxLen(63).Unique().
			Comment("Store slug, unique across the platform (X-Store-Slug)."),
		field.Enum("status").Values("ACTIVE", "SUSPENDED", "CLOSED").Default("ACTIVE"),
		field.String("contact_email").MaxLen(254).Optional(),
		field.String("default_currency").MinLen(3).MaxLen(3).Default("USD"),
		field.String("country").MaxLen(2).Optional(),
		field.String("timezone").MaxLen(64).Default("UTC"),
		field.String("stripe_account_id").MaxLen(255).Optional().
			Comment("Stripe Connect connected account id (acct_…)."),
		field.Bool("charges_enabled").Default(false),
		field.Bool("payouts_enabled").Default(false),
		field.Int("application_fee_bps").Default(200).NonNegative().
			Comment("Platform fee on each payment, in basis points."),
		field.Enum("plan").Values("TRIAL", "STARTER", "GROWTH", "SCALE").Default("TRIAL"),
		field.Enum("subscription_status").
			Values("TRIALING", "ACTIVE", "PAST_DUE", "CANCELED", "INCOMPLETE", "UNPAID").
			Default("TRIALING"),
		field.String("stripe_customer_id").MaxLen(255).Optional(),
		field.String("stripe_subscription_id").MaxLen(255).Optional(),
		field.Time("trial_ends_at").Optional().Nillable(),
		field.Time("current_period_end").Optional().Nillable(),
	}
}

// Indexes of the MerchantAccount.
func (MerchantAccount) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("stripe_account_id"),
		index.Fields("stripe_customer_id"),
		index.Fields("status"),
	}
}

// User is a merchant's staff member who signs in to the admin.
type User struct{ ent.Schema }

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return append(adminList("staff:read"), entsql.Annotation{Table: "users"})
}

// Mixin of the User.
func (User) Mixin() []ent.Mixin { return base("users") }

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").NotEmpty().MaxLen(254).Unique().
			Comment("Login email, unique across the platform (login takes no store).").
			Annotations(entgql.OrderField("EMAIL")),
		field.String("password_hash").Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("full_name").MaxLen(200).Default("").
			Annotations(entgql.OrderField("FULL_NAME")),
		field.Enum("role").Values("OWNER", "ADMIN", "STAFF").Default("STAFF"),
		field.Bool("platform_admin").Default(false),
		field.Enum("status").Values("ACTIVE", "DISABLED", "DELETED").Default("ACTIVE"),
		field.Bool("email_verified").Default(false),
		field.Time("last_login_at").Optional().Nillable().
			Annotations(entgql.OrderField("LAST_LOGIN_AT")),
		field.Int("failed_login_count").Default(0).NonNegative(),
		field.Time("locked_until").Optional().Nillable(),
		field.Time("deleted_at").Optional().Nillable(),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("api_keys", APIKey.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("refresh_tokens", RefreshToken.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{index.Fields("merchant_id", "role"), index.Fields("status")}
}

// APIKey is a merchant's secret key for server-to-server access, or its
// publishable storefront key. Only a hash of the secret is kept.
type APIKey struct{ ent.Schema }

// Annotations of the APIKey.
func (APIKey) Annotations() []schema.Annotation {
	return append(adminList("settings:read"), entsql.Annotation{Table: "api_keys"})
}

// Mixin of the APIKey.
func (APIKey) Mixin() []ent.Mixin { return base("api_keys") }

// Fields of the APIKey.
func (APIKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100).
			Annotations(entgql.OrderField("NAME")),
		field.Enum("kind").Values("SECRET", "PUBLISHABLE").Default("SECRET"),
		field.String("prefix").NotEmpty().MaxLen(32).
			Comment("The first characters of the key, shown to identify it."),
		field.String("key_hash").Sensitive().Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("permissions", []string{}).Default([]string{}),
		field.UUID("created_by_id", uuidType()).Optional().Nillable(),
		field.Time("last_used_at").Optional().Nillable().
			Annotations(entgql.OrderField("LAST_USED_AT")),
		field.Time("expires_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

// Edges of the APIKey.
func (APIKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("created_by", User.Type).Ref("api_keys").Field("created_by_id").Unique(),
	}
}

// Indexes of the APIKey.
func (APIKey) Indexes() []ent.Index {
	return []ent.Index{index.Fields("merchant_id", "kind"), index.Fields("prefix")}
}

// AuditLog is an append-only record of a security-relevant action. It
// survives the erasure of the user it names (actor fields are plain values).
type AuditLog struct{ ent.Schema }

// Annotations of the AuditLog.
func (AuditLog) Annotations() []schema.Annotation {
	return append(adminList("audit:read"), entsql.Annotation{Table: "audit_logs"})
}

// Mixin of the AuditLog.
func (AuditLog) Mixin() []ent.Mixin { return base("audit_logs") }

// Fields of the AuditLog.
func (AuditLog) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("actor_type").Values("USER", "API_KEY", "CUSTOMER", "SYSTEM").Default("SYSTEM"),
		field.UUID("actor_id", uuidType()).Optional().Nillable(),
		field.String("action").NotEmpty().MaxLen(100).
			Comment("What happened, e.g. user.login, refresh_token.reuse, account.delete.").
			Annotations(entgql.OrderField("ACTION")),
		field.String("resource_type").MaxLen(100).Optional(),
		field.String("resource_id").MaxLen(100).Optional(),
		field.String("ip").MaxLen(64).Optional(),
		field.String("user_agent").MaxLen(512).Optional(),
		field.String("request_id").MaxLen(64).Optional(),
		field.JSON("metadata", map[string]any{}).Optional().
			Annotations(entgql.Type("Map")),
	}
}

// Indexes of the AuditLog.
func (AuditLog) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "created_at"),
		index.Fields("merchant_id", "action"),
		index.Fields("actor_id"),
	}
}

// RefreshToken is one issued refresh token. Tokens of one sign-in share a
// family; reuse of a rotated token revokes the family (RFC 9700).
type RefreshToken struct{ ent.Schema }

// Annotations of the RefreshToken.
func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "refresh_tokens"}}
}

// Mixin of the RefreshToken.
func (RefreshToken) Mixin() []ent.Mixin { return base("refresh_tokens") }

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuidType()).Optional().Nillable(),
		field.UUID("customer_id", uuidType()).Optional().Nillable().
			Comment("Set for storefront customer sessions instead of user_id."),
		field.UUID("family_id", uuidType()),
		field.String("token_hash").Sensitive().Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("expires_at"),
		field.Time("used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.UUID("replaced_by_id", uuidType()).Optional().Nillable(),
		field.String("ip").MaxLen(64).Optional(),
		field.String("user_agent").MaxLen(512).Optional(),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("refresh_tokens").Field("user_id").Unique(),
		edge.To("customer", Customer.Type).Field("customer_id").Unique(),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("family_id"), index.Fields("expires_at")}
}
