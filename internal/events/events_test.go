package events

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestLocalDeliversToTheMerchantsSubscribersOnly(t *testing.T) {
	bus := NewLocal()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, b := uuid.New(), uuid.New()
	subA, _ := bus.Subscribe(ctx, a, "order.paid")
	subB, _ := bus.Subscribe(ctx, b)

	_ = bus.Publish(ctx, Event{MerchantID: a, Topic: "order.created"}) // filtered out for subA
	_ = bus.Publish(ctx, Event{MerchantID: a, Topic: "order.paid"})
	_ = bus.Publish(ctx, Event{MerchantID: b, Topic: "inventory.low"})

	select {
	case e := <-subA:
		if e.Topic != "order.paid" || e.MerchantID != a {
			t.Fatalf("subA got %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("subA got nothing")
	}
	select {
	case e := <-subB:
		if e.MerchantID != b {
			t.Fatalf("subB got another merchant's event %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("subB got nothing")
	}
	select {
	case e := <-subA:
		t.Fatalf("subA got an unexpected event %+v", e)
	default:
	}
}

func TestLocalClosesOnCancelAndDropsForSlowSubscribers(t *testing.T) {
	bus := NewLocal()
	ctx, cancel := context.WithCancel(context.Background())
	m := uuid.New()
	sub, _ := bus.Subscribe(ctx, m)
	for i := 0; i < SubscriberBuffer+10; i++ {
		_ = bus.Publish(context.Background(), Event{MerchantID: m, Topic: "x"})
	}
	if got := bus.Dropped(); got != 10 {
		t.Fatalf("dropped = %d, want 10", got)
	}
	cancel()
	n := 0
	for range sub { // must terminate: the channel is closed after cancel
		n++
	}
	if n != SubscriberBuffer {
		t.Fatalf("drained %d events, want %d", n, SubscriberBuffer)
	}
}
