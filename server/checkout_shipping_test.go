package server_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
)

// TestCartShippingMethodRefused: cartShippingMethodUpdate with a method
// the cart is not offered (another destination, an unknown id, another
// store's method) answers SHIPPING_METHOD_REQUIRED and leaves the cart as
// it was. The method is written before the cart is priced with it, so the
// refusal must undo the write.
func TestCartShippingMethodRefused(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			e := newCheckoutEnv(t, b, 10, nil)
			guest := e.visitor()
			const selectMethod = `mutation($c: ID!, $m: ID!) { cartShippingMethodUpdate(cartId: $c, shippingMethodId: $m) {
			  cart { shippingMethod { id } cost { shippingTotal { amount } } } ` + userErrs + ` } }`
			shippingOf := func(cart string) any {
				r := e.query(t, guest, `query($c: ID!) { cart(id: $c) { shippingMethod { id } cost { shippingTotal { amount } } } }`,
					map[string]any{"c": cart})
				require.Empty(t, r.Errors, "body: %s", r.Body)
				var d struct {
					Cart struct {
						ShippingMethod *struct{ ID string }
						Cost           struct{ ShippingTotal struct{ Amount int } }
					}
				}
				require.NoError(t, json.Unmarshal(r.Data, &d), r.Body)
				if d.Cart.ShippingMethod == nil {
					return nil
				}
				return []any{d.Cart.ShippingMethod.ID, d.Cart.Cost.ShippingTotal.Amount}
			}

			p := e.mutate(t, guest, "cartCreate", `mutation($in: CartCreateInput!) { cartCreate(input: $in) { cart { id } `+userErrs+` } }`,
				map[string]any{"in": map[string]any{"lines": []any{map[string]any{"variantId": e.variant.ID, "quantity": 1}},
					"email":           "ann@example.com",
					"shippingAddress": map[string]any{"line1": "1 Rue", "city": "Paris", "countryCode": "FR"}}})
			require.Empty(t, p.list("userErrors"))
			cart := p.str("cart", "id")

			p = e.mutate(t, guest, "cartShippingMethodUpdate", selectMethod, map[string]any{"c": cart, "m": e.shipping})
			require.Equal(t, []string{"SHIPPING_METHOD_REQUIRED"}, codesOf(p), "the method ships to US and CA only")
			require.Nil(t, shippingOf(cart))

			p = e.mutate(t, guest, "cartBuyerIdentityUpdate", `mutation($c: ID!, $b: CartBuyerIdentityInput!) { cartBuyerIdentityUpdate(cartId: $c, buyerIdentity: $b) { cart { id } `+userErrs+` } }`,
				map[string]any{"c": cart, "b": map[string]any{"shippingAddress": map[string]any{"line1": "1 Main St", "city": "Austin", "countryCode": "US"}}})
			require.Empty(t, p.list("userErrors"))
			p = e.mutate(t, guest, "cartShippingMethodUpdate", selectMethod, map[string]any{"c": cart, "m": e.shipping})
			require.Empty(t, p.list("userErrors"))
			require.Equal(t, e.shipping, p.str("cart", "shippingMethod", "id"))
			require.Equal(t, 500, p.num("cart", "cost", "shippingTotal", "amount"))

			p = e.mutate(t, &e.otherV, "shippingMethodCreate", `mutation { shippingMethodCreate(input: {name: "Theirs", price: 100}) {
			  shippingMethod { id } `+userErrs+` } }`, nil)
			require.Empty(t, p.list("userErrors"))
			theirs := p.str("shippingMethod", "id")
			for name, id := range map[string]string{"an unknown id": uuid.NewString(), "another store's method": theirs} {
				p = e.mutate(t, guest, "cartShippingMethodUpdate", selectMethod, map[string]any{"c": cart, "m": id})
				require.Equal(t, []string{"SHIPPING_METHOD_REQUIRED"}, codesOf(p), name)
				require.Equal(t, []any{e.shipping, 500}, shippingOf(cart), "%s: the cart keeps its method", name)
			}
		})
	}
}
