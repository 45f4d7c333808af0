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

func TestLocalClosesOnCancelAndDropsSlowSubscribers(t *testing.T) {
	bus := NewLocal()
	ctx, cancel := context.WithCancel(context.Background())
	m := uuid.New()
	slow, _ := bus.Subscribe(ctx, m)
	fast, _ := bus.Subscribe(ctx, m)
	got := 0
	for i := 0; i < SubscriberBuffer+10; i++ {
		_ = bus.Publish(context.Background(), Event{MerchantID: m, Topic: "x"})
		<-fast // keeps up
		got++
	}
	if got := bus.Dropped(); got != 1 {
		t.Fatalf("dropped = %d, want 1 (the slow subscriber)", got)
	}
	n := 0
	for range slow { // closed once it fell a buffer behind: memory stays bounded
		n++
	}
	if n != SubscriberBuffer {
		t.Fatalf("the slow subscriber drained %d events, want %d", n, SubscriberBuffer)
	}
	cancel()
	for range fast { // closed after cancel
	}
	if got != SubscriberBuffer+10 {
		t.Fatalf("the fast subscriber got %d events", got)
	}
}
