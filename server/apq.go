package server

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/redis/go-redis/v9"
)

// Automatic persisted queries (gqlgen's extension.AutomaticPersistedQuery):
// a client sends the SHA-256 of a query; the server answers
// PersistedQueryNotFound until the client has sent hash and query once.
// The queries live in Redis when it is configured, so that every process
// behind the load balancer knows them, else in an in-process LRU.

const (
	apqPrefix = "omnisphere:apq:"
	apqTTL    = 24 * time.Hour
	// apqTimeout bounds one cache round trip: a slow Redis costs the
	// caller at most a resend of the query, never a hung request.
	apqTimeout = 500 * time.Millisecond
)

// redisAPQCache is a graphql.Cache[string] in Redis.
type redisAPQCache struct{ client *redis.Client }

var _ graphql.Cache[string] = redisAPQCache{}

// Get implements graphql.Cache.
func (c redisAPQCache) Get(ctx context.Context, hash string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, apqTimeout)
	defer cancel()
	q, err := c.client.Get(ctx, apqPrefix+hash).Result()
	if err != nil {
		return "", false
	}
	return q, true
}

// Add implements graphql.Cache. gqlgen has checked that hash is the
// query's SHA-256 before it adds.
func (c redisAPQCache) Add(ctx context.Context, hash, query string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apqTimeout)
	defer cancel()
	_ = c.client.Set(ctx, apqPrefix+hash, query, apqTTL).Err()
}

// apqCache is the persisted-query store of s.
func (s *Server) apqCache(size int) graphql.Cache[string] {
	if s.Redis != nil {
		return redisAPQCache{client: s.Redis}
	}
	return lru.New[string](size)
}
