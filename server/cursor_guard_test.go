package server_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
)

// TestCraftedCursorIsBadInput: a cursor that makes the msgpack decoder
// panic (a repeated map key, found by FuzzCursor) and one that is not a
// cursor at all are BAD_USER_INPUT, as a literal and as a variable, also
// inside a fragment; a real cursor still pages.
func TestCraftedCursorIsBadInput(t *testing.T) {
	e := &idEnv{s: newServer(t, dbtest.SQLite, nil, nil)}
	acme := e.register(t, "acme")
	e.publish(t, acme)
	key := []string{"X-Storefront-Key", acme.MerchantRegister.StorefrontKey}
	const crafted = "gqF2xBA000000000000000000000oXag"
	for _, c := range []struct {
		q    string
		vars map[string]any
	}{
		{`{ products(first: 2, after: "` + crafted + `") { totalCount } }`, nil},
		{`query($c: Cursor) { products(first: 2, before: $c, last: 2) { totalCount } }`, map[string]any{"c": crafted}},
		{`query($c: Cursor) { ...F } fragment F on Query { products(first: 2, after: $c) { totalCount } }`, map[string]any{"c": crafted}},
		{`{ products(first: 2, after: "not a cursor") { totalCount } }`, nil},
	} {
		r := e.do(t, c.q, c.vars, key...)
		require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.Body)
	}
	r := e.do(t, `{ products(first: 1) { pageInfo { endCursor } } }`, nil, key...)
	require.Empty(t, r.Errors, r.Body)
	var d struct {
		Products struct{ PageInfo struct{ EndCursor *string } }
	}
	r.decode(t, &d)
	if d.Products.PageInfo.EndCursor != nil {
		r = e.do(t, `query($c: Cursor) { products(first: 1, after: $c) { totalCount } }`, map[string]any{"c": *d.Products.PageInfo.EndCursor}, key...)
		require.Empty(t, r.Errors, r.Body)
	}
}
