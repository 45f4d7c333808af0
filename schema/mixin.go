// Package schema holds the hand-written ent schemas of OmniSphere's 37
// tables, grouped one file per table group (auth, catalog, checkout,
// marketing, platform), and the mixins every table shares: a self-describing
// UUID id, timestamps and the tenant (merchant_id) with its filters.
//
// ent generates ./ent from this package (see ent/entc.go); never edit ./ent.
package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/omnisphere/omnisphere/internal/ids"
)

// IDMixin gives a table a UUID primary key that encodes the table (see
// internal/ids), so that node(id:) needs no lookup to find the type.
type IDMixin struct {
	mixin.Schema
	// Table is the SQL table name; it must be listed in internal/ids.
	Table string
}

// Fields of the IDMixin.
func (m IDMixin) Fields() []ent.Field {
	code := ids.Code(m.Table)
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).
			Default(func() uuid.UUID { return ids.New(code) }).
			Immutable(),
	}
}

// TimeMixin adds created_at and updated_at, both sortable in GraphQL.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT")),
	}
}

// TenantMixin marks a table as owned by one merchant: an immutable, indexed
// merchant_id with a foreign key to merchant_accounts. The server sets it
// from the viewer (it is not in any GraphQL input), ent filters every query
// and mutation by it (tenant_policy.go), and PostgreSQL fences it with
// forced row-level security (internal/db/migrations).
type TenantMixin struct {
	mixin.Schema
	// Table is the table the mixin is applied to: it decides which viewers
	// besides staff may read it (see audiences in tenant_policy.go).
	Table string
}

// Fields of the TenantMixin.
func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("merchant_id", uuid.UUID{}).
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the TenantMixin.
func (TenantMixin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("merchant", MerchantAccount.Type).
			Field("merchant_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the TenantMixin.
func (TenantMixin) Indexes() []ent.Index {
	return []ent.Index{index.Fields("merchant_id")}
}

// base returns the mixins of a tenant-owned table.
func base(table string) []ent.Mixin {
	return []ent.Mixin{IDMixin{Table: table}, TimeMixin{}, TenantMixin{Table: table}}
}

// Scopes used by the generated admin reads. The directive itself is declared
// in graph/scope.graphqls and enforced in graph/directives.go.
const (
	scopeStaff         = "STAFF"
	scopePlatformAdmin = "PLATFORM_ADMIN"
)

// authDirective builds @auth(scope:, permission:) for a generated field.
func authDirective(scope, permission string) entgql.Directive {
	args := []*ast.Argument{{Name: "scope", Value: &ast.Value{Raw: scope, Kind: ast.EnumValue}}}
	if permission != "" {
		args = append(args, &ast.Argument{Name: "permission", Value: &ast.Value{Raw: permission, Kind: ast.StringValue}})
	}
	return entgql.NewDirective("auth", args...)
}

// adminList exposes the table as a Relay connection on Query, readable by the
// merchant's staff and by secret keys that hold permission.
func adminList(permission string) []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField().Directives(authDirective(scopeStaff, permission)),
	}
}

// nowUTC is the default of event timestamps.
func nowUTC() time.Time { return time.Now().UTC() }
