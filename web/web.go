// Package web serves OmniSphere's pages: the GraphQL playground now; the
// admin dashboard and the demo storefront join it as embedded pages.
package web

import (
	"net/http"

	"github.com/99designs/gqlgen/graphql/playground"
)

// Playground serves GraphiQL against endpoint, for headless-commerce builders
// exploring the API. The page loads GraphiQL's scripts from its CDN.
func Playground(endpoint string) http.Handler {
	h := playground.Handler("OmniSphere GraphQL", endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
