package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/hook"
	"github.com/omnisphere/omnisphere/internal/ids"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// outboxIDs orders the rows one process writes, also within a millisecond:
// the relay publishes an aggregate's rows in id order.
var outboxIDs = ids.NewSequence(ids.Code("outbox_events"))

// Write adds m to the outbox through c, the caller's transaction client, so
// that the event commits (or rolls back) with the change it describes; the
// relay publishes it after the commit. merchantID is the store the event
// belongs to: uuid.Nil takes the viewer's (the tenant hook stamps it); the
// system context must name it.
//
// Events of one aggregate are delivered in the order Write was called for
// them, provided the writers serialise the aggregate's changes (they lock its
// row), which they do anyway.
func Write(ctx context.Context, c *ent.Client, merchantID uuid.UUID, m Message) (Event, error) {
	if _, system := viewer.IsSystem(ctx); system && merchantID == uuid.Nil {
		return Event{}, fmt.Errorf("events: write %s: the system context must name the merchant", m.Topic())
	}
	a := m.Aggregate()
	if a.Type == "" || a.ID == "" || len(a.Type) > maxAggregateFieldLength || len(a.ID) > maxAggregateFieldLength {
		return Event{}, fmt.Errorf("events: write %s: aggregate %q/%q must be 1-%d characters each", m.Topic(), a.Type, a.ID, maxAggregateFieldLength)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return Event{}, fmt.Errorf("events: write %s: %w", m.Topic(), err)
	}
	// The payload column is a JSON object; json.Number keeps int64 amounts
	// exact on the way in.
	payload := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		return Event{}, fmt.Errorf("events: write %s: payload must be a JSON object: %w", m.Topic(), err)
	}
	now := time.Now().UTC()
	create := c.OutboxEvent.Create().SetID(outboxIDs.New()).SetTopic(m.Topic()).
		SetAggregateType(a.Type).SetAggregateID(a.ID).SetPayload(payload).
		SetAvailableAt(now).SetCreatedAt(now).SetUpdatedAt(now)
	if merchantID != uuid.Nil {
		create.SetMerchantID(merchantID)
	}
	row, err := create.Save(ctx)
	if err != nil {
		return Event{}, fmt.Errorf("events: write %s: %w", m.Topic(), err)
	}
	return Event{
		ID: row.ID, MerchantID: row.MerchantID, Topic: row.Topic,
		AggregateType: a.Type, AggregateID: a.ID, Payload: raw, OccurredAt: now,
	}, nil
}

// eventOf turns an outbox row into the Event delivered for it.
func eventOf(row *ent.OutboxEvent) (Event, error) {
	payload, err := json.Marshal(row.Payload)
	if err != nil {
		return Event{}, fmt.Errorf("events: outbox row %s: %w", row.ID, err)
	}
	return Event{
		ID: row.ID, MerchantID: row.MerchantID, Topic: row.Topic,
		AggregateType: row.AggregateType, AggregateID: row.AggregateID,
		Payload: payload, OccurredAt: row.CreatedAt.UTC(),
	}, nil
}

// Notifier is told that outbox rows were committed: the Relay, whose Kick
// publishes them at once instead of at the next sweep.
type Notifier interface {
	Kick()
}

// CommitHook returns an ent hook for the OutboxEvent client (install it with
// client.OutboxEvent.Use) that kicks n once a created outbox row is
// committed: after the commit of the transaction that wrote it, or at once
// when it was written outside a transaction. A rolled-back row kicks
// nothing. Every writer gets the immediate publish this way, without
// knowing the relay.
func CommitHook(n Notifier) ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return v, err
			}
			om, ok := m.(*ent.OutboxEventMutation)
			if !ok {
				return v, nil
			}
			tx, txErr := om.Tx()
			if txErr != nil { // not in a transaction: the row is committed
				n.Kick()
				return v, nil
			}
			tx.OnCommit(func(next ent.Committer) ent.Committer {
				return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
					err := next.Commit(ctx, tx)
					if err == nil {
						n.Kick()
					}
					return err
				})
			})
			return v, nil
		})
	}, ent.OpCreate)
}
