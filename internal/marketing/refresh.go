package marketing

import (
	"context"
	"time"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Dynamic segments follow each customer's events as they arrive
// (ReevaluateCustomer on the durable path), but a rule about time ("no
// order within 90 days", "viewed within 7 days") also changes when nothing
// happens. RunRefresh recomputes, every interval, each active dynamic
// segment last evaluated more than interval ago. With several processes
// the segment's row lock (PostgreSQL) serialises refreshes of one segment
// and the age check skips a segment another process just refreshed.

// RunRefresh refreshes due segments every interval until ctx is done.
func (s *Service) RunRefresh(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.RefreshDue(ctx, interval); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "marketing: segment refresh", "refreshed", n, "err", err)
		}
	}
}

// RefreshDue refreshes the active dynamic segments of every store last
// evaluated more than age ago (or never), and returns how many it
// refreshed. A segment whose refresh fails is marked FAILED by the segment
// engine and tried again at the next round.
func (s *Service) RefreshDue(ctx context.Context, age time.Duration) (int, error) {
	sys := viewer.SystemContext(ctx, "due segment refresh")
	before := s.now().Add(-age)
	due, err := s.client.CustomerSegment.Query().Where(customersegment.KindEQ(customersegment.KindDYNAMIC),
		customersegment.StatusEQ(customersegment.StatusACTIVE),
		customersegment.Or(customersegment.LastEvaluatedAtIsNil(), customersegment.LastEvaluatedAtLT(before))).
		Select(customersegment.FieldID, customersegment.FieldMerchantID).All(sys)
	if err != nil {
		return 0, err
	}
	n := 0
	var firstErr error
	for _, seg := range due {
		if ctx.Err() != nil {
			break
		}
		if _, err := s.Segments.Refresh(viewer.ActAsStore(ctx, seg.MerchantID, "due segment refresh"), seg.MerchantID, seg.ID); err != nil {
			if firstErr == nil && !ent.IsNotFound(err) {
				firstErr = err
			}
			continue
		}
		n++
	}
	return n, firstErr
}
