package server

import (
	"context"
	"errors"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/merchantaccount"
	"github.com/omnisphere/omnisphere/internal/viewer"
	"github.com/omnisphere/omnisphere/web"
)

// pages serves /admin, /store, /playground and /assets/ (package web).
func (s *Server) pages() *web.Config {
	return &web.Config{GraphQL: "/graphql", Store: s.webStore}
}

// webStore is the store the pages show (WEB_STORE, the demo store by
// default) with the public credential a browser may hold: WEB_STOREFRONT_KEY,
// else the publishable key this process seeded, else none (the pages then
// use X-Store-Slug, which the API takes for the same anonymous visitor).
// Nil when there is no such active store.
func (s *Server) webStore(ctx context.Context) (*web.Store, error) {
	slug := s.Config.WebStore
	if slug == "" {
		slug = "demo"
	}
	m, err := s.DB.Client.MerchantAccount.Query().
		Where(merchantaccount.Slug(slug), merchantaccount.StatusEQ(merchantaccount.StatusACTIVE)).
		Only(viewer.SystemLookupContext(ctx, "web pages: the shown store"))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.Log.ErrorContext(ctx, "web pages: store lookup", "error", err)
		}
		return nil, err
	}
	st := &web.Store{Slug: m.Slug, Name: m.Name, Currency: m.DefaultCurrency, StorefrontKey: s.Config.WebStorefrontKey}
	if st.StorefrontKey == "" {
		if k := s.seededKey.Load(); k != nil && k.slug == m.Slug {
			st.StorefrontKey = k.key
		}
	}
	return st, nil
}

// seededStoreKey is the publishable key of a store this process seeded.
type seededStoreKey struct{ slug, key string }
