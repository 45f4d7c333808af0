package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
)

// eventsDrainTimeout bounds how long Close lets the relay publish what is
// still pending before it stops (another process, or the next start,
// publishes the rest).
const eventsDrainTimeout = 5 * time.Second

// startEvents builds the live and the durable event path (Redis pub/sub and
// Redis Streams with REDIS_URL, in process without) and starts the relay,
// which every outbox write kicks once committed. New calls it last: durable
// consumers register (Durable.Consume) before it, because the in-process
// path hands an event only to the groups registered when it is published
// (Redis consumer groups read the stream from its oldest entry).
//
// The relay runs on a small pool of its own: its sweeps are background work
// and stay out of DB.Statements, which pins the statement count of requests.
func (s *Server) startEvents(ctx context.Context) error {
	cfg := s.Config
	var err error
	s.eventsDB, err = db.Open(ctx, db.Config{
		URL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath,
		MaxOpenConns: 2, MaxIdleConns: 2,
		ConnMaxLifetime: cfg.DBConnMaxLife, ConnMaxIdleTime: cfg.DBConnMaxIdle,
		Observer: s.sqlObserver(cfg, "events"),
	})
	if err != nil {
		return fmt.Errorf("events relay: %w", err)
	}
	bus := events.BusOptions{Buffer: cfg.EventsSubscriberBuffer}
	if s.Redis != nil {
		s.Bus = events.NewRedisBus(s.Redis, events.RedisBusConfig{BusOptions: bus, Log: s.Log})
		s.Durable = events.NewStreams(s.Redis, events.StreamsConfig{
			MaxLen: int64(cfg.EventsStreamMaxLen), ClaimTimeout: cfg.EventsClaimTimeout,
			ReplayWindow: cfg.EventsReplayWindow, Log: s.Log,
		})
	} else {
		s.Bus = events.NewLocalWith(bus)
		s.Durable = events.NewMemory(events.MemoryConfig{Log: s.Log})
	}
	s.Relay = events.NewRelay(events.RelayConfig{
		Client: s.eventsDB.Client, Bus: s.Bus, Durable: s.Durable,
		Sweep: cfg.EventsSweepInterval, Lease: cfg.EventsLease, MaxAttempts: cfg.EventsMaxAttempts,
		Log: s.Log,
	})
	s.DB.Client.OutboxEvent.Use(events.CommitHook(s.Relay))
	if err := s.consumeMarketing(s.bgCtx); err != nil {
		return fmt.Errorf("marketing consumers: %w", err)
	}
	s.Relay.Start()
	return nil
}

// stopEvents stops the relay (after publishing what is pending, for up to
// eventsDrainTimeout), then the durable consumers, then the live
// subscriptions. It leaves the Redis client open.
func (s *Server) stopEvents() error {
	var errs []error
	if s.Relay != nil {
		ctx, cancel := context.WithTimeout(context.Background(), eventsDrainTimeout)
		errs = append(errs, s.Relay.Close(ctx))
		cancel()
	}
	if s.Durable != nil {
		errs = append(errs, s.Durable.Close())
	}
	if c, ok := s.Bus.(interface{ Close() error }); ok {
		errs = append(errs, c.Close())
	}
	if s.eventsDB != nil {
		errs = append(errs, s.eventsDB.Close())
	}
	return errors.Join(errs...)
}
