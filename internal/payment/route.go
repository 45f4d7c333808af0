package payment

import (
	"context"
	"sort"
	"strings"

	"github.com/stripe/stripe-go/v76"
)

// Route returns an EventHandler that hands each event to the handler of the
// longest prefix of its type in routes ("invoice." takes invoice.paid), and
// every other event to fallback. It lets one webhook intake serve several
// domains: billing takes customer.subscription.* and invoice.*, checkout
// the rest.
func Route(routes map[string]EventHandler, fallback EventHandler) EventHandler {
	prefixes := make([]string, 0, len(routes))
	for p := range routes {
		prefixes = append(prefixes, p)
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	return EventHandlerFunc(func(ctx context.Context, ev stripe.Event) error {
		for _, p := range prefixes {
			if strings.HasPrefix(string(ev.Type), p) {
				return routes[p].HandleStripeEvent(ctx, ev)
			}
		}
		return fallback.HandleStripeEvent(ctx, ev)
	})
}
