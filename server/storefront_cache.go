package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/respcache"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// The storefront response cache (docs/storefront.md, "Response cache"):
// a query of an anonymous storefront visitor whose root fields are all
// public catalogue reads is answered from memory when the same operation
// (document, operation name, variables) of the same store was answered
// before and no write of the store's data has committed since. Signed-in
// customers, staff and keys always execute. An answer with errors is never
// kept. The rate limiter charges a hit what computing the answer cost.

// cacheableRoots are the root fields whose answers depend only on the
// store's catalogue data (and the visitor being anonymous).
var cacheableRoots = map[string]bool{
	"products": true, "product": true, "categories": true, "storefront": true, "__typename": true,
}

// uncachedTables are the tables whose writes change no answer of a
// cacheable root field: writes to them leave the cache alone. Writes to any
// other table — a table added later included — retire the store's entries.
var uncachedTables = map[string]bool{
	"users": true, "api_keys": true, "audit_logs": true, "refresh_tokens": true,
	"shopping_carts": true, "cart_items": true, "orders": true, "order_items": true,
	"order_addresses": true, "order_payments": true, "refunds": true, "discount_redemptions": true,
	"customers": true, "customer_events": true, "customer_segments": true, "segment_members": true,
	"email_campaigns": true, "email_templates": true, "automation_workflows": true,
	"workflow_steps": true, "workflow_enrollments": true, "email_sends": true, "email_opens": true,
	"email_clicks": true, "capture_popups": true, "webhook_events": true, "outbox_events": true,
}

// invalidateOnWrite is the database write hook of the cache.
func invalidateOnWrite(c *respcache.Cache) func(db.Write) {
	return func(w db.Write) {
		if !uncachedTables[w.Table] {
			c.Invalidate(w.MerchantID)
		}
	}
}

// cacheResponses is the response interceptor of the cache. It runs inside
// the rate limiter's (which settles the cost and reports it) and before
// execution: a hit runs no resolver and no SQL statement.
func (s *Server) cacheResponses(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	c := s.RespCache
	if c == nil {
		return next(ctx)
	}
	op := graphql.GetOperationContext(ctx)
	v := viewer.FromContext(ctx)
	// A closed store answers its visitors STORE_NOT_PUBLISHED from the
	// directive: never from here.
	if op.Operation == nil || op.Operation.Operation != ast.Query || v.Kind != viewer.Anonymous ||
		!v.HasMerchant() || !v.ServedByStorefront() || !cacheable(op.Operation.SelectionSet) {
		return next(ctx)
	}
	digest, ok := operationDigest(op, v.Storefront)
	if !ok {
		return next(ctx)
	}
	key := respcache.Key{Merchant: v.MerchantID, Digest: digest}
	// The version before any statement reads the data (see respcache).
	version := c.Version(v.MerchantID)
	st := costStateOf(ctx)
	if e, ok := c.Get(key, version); ok {
		if st != nil {
			st.actual.Store(e.Cost)
		}
		return &graphql.Response{Data: e.Data}
	}
	resp := next(ctx)
	if resp == nil || len(resp.Errors) > 0 || resp.HasNext != nil || len(resp.Data) == 0 || st == nil {
		return resp
	}
	c.Put(key, version, resp.Data, st.actual.Load())
	return resp
}

// cacheable reports whether every root selection is a plain field of
// cacheableRoots (no fragments at the root: they could hide other fields).
func cacheable(set ast.SelectionSet) bool {
	if len(set) == 0 {
		return false
	}
	for _, sel := range set {
		f, ok := sel.(*ast.Field)
		if !ok || !cacheableRoots[f.Name] {
			return false
		}
	}
	return true
}

// operationDigest identifies an operation by what its answer depends on
// besides the store: the document, the operation chosen, the variables
// (encoding/json writes map keys sorted, so equal variables encode equal)
// and the store's settings the visitor was resolved with (another server
// may still resolve the previous ones for a few seconds).
func operationDigest(op *graphql.OperationContext, settings viewer.Storefront) ([sha256.Size]byte, bool) {
	vars, err := json.Marshal(op.Variables)
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	set, err := json.Marshal(settings)
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	h := sha256.New()
	h.Write(set)
	h.Write([]byte{0})
	h.Write([]byte(op.RawQuery))
	h.Write([]byte{0})
	h.Write([]byte(op.OperationName))
	h.Write([]byte{0})
	h.Write(vars)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d, true
}
