package segment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/customerevent"
	"github.com/omnisphere/omnisphere/ent/customersegment"
	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/ent/orderitem"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/segmentmember"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Errors of the Service.
var (
	// ErrNotFound: no such segment or customer in the store.
	ErrNotFound = errors.New("segment: not found")
	// ErrNotDynamic: the segment is STATIC; it has no rule to evaluate.
	ErrNotDynamic = errors.New("segment: not a DYNAMIC segment")
	// ErrNotActive: the segment is PAUSED or ARCHIVED; it is not evaluated.
	ErrNotActive = errors.New("segment: segment is not ACTIVE")
)

// Service keeps segment_members of DYNAMIC segments current.
type Service struct {
	client *ent.Client
	now    func() time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock relative times are counted from (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// New returns a Service over the server's ent client.
func New(client *ent.Client, opts ...Option) *Service {
	s := &Service{client: client, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// RefreshResult is what a full refresh changed.
type RefreshResult struct {
	// Joined and Left count the customers added and removed (RULE rows).
	Joined, Left int
	// Members is the segment's member count after the refresh (RULE and
	// MANUAL rows), also stored in customer_segments.member_count.
	Members int
}

// storeContext acts for merchantID as the store's own service; a context
// that already acts for another store is refused.
func storeContext(ctx context.Context, merchantID uuid.UUID) (context.Context, error) {
	if merchantID == uuid.Nil {
		return nil, viewer.ErrNoTenant
	}
	if m, ok := viewer.MerchantFromContext(ctx); ok && m != merchantID {
		return nil, viewer.ErrCrossTenant
	}
	return viewer.ActAsStore(ctx, merchantID, "segment evaluation"), nil
}

// maxAttempts is how often a transaction that lost a race (a concurrent
// refresh inserting the same member) is run again.
const maxAttempts = 3

func (s *Service) inTx(ctx context.Context, fn func(c *ent.Client) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = db.InTx(ctx, s.client, fn)
		if err == nil || !db.LostRace(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// Matching returns the ids of the store's customers that match r now: the
// full evaluation, in SQL (previews, counts, tests).
func (s *Service) Matching(ctx context.Context, merchantID uuid.UUID, r *Rule) ([]uuid.UUID, error) {
	ctx, err := storeContext(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	ids, err := s.client.Customer.Query().Where(Predicate(r, merchantID, s.now())).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("segment: matching: %w", err)
	}
	return ids, nil
}

// Count returns how many of the store's customers match r now.
func (s *Service) Count(ctx context.Context, merchantID uuid.UUID, r *Rule) (int, error) {
	ctx, err := storeContext(ctx, merchantID)
	if err != nil {
		return 0, err
	}
	n, err := s.client.Customer.Query().Where(Predicate(r, merchantID, s.now())).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("segment: count: %w", err)
	}
	return n, nil
}

// chunk is how many rows one bulk statement writes or names.
const chunk = 1000

// Refresh recomputes the members of a DYNAMIC, ACTIVE segment in one
// transaction: customers who match and are not members join (a RULE row and
// a segment.entered outbox event each), RULE members who no longer match
// leave, MANUAL members stay; member_count, last_evaluated_at and
// evaluation_state (IDLE) are updated. A segment with an invalid rule
// returns a *RuleError and is marked FAILED.
func (s *Service) Refresh(ctx context.Context, merchantID, segmentID uuid.UUID) (RefreshResult, error) {
	ctx, err := storeContext(ctx, merchantID)
	if err != nil {
		return RefreshResult{}, err
	}
	var res RefreshResult
	err = s.inTx(ctx, func(c *ent.Client) error {
		res = RefreshResult{}
		// Lock the segment row (PostgreSQL; SQLite transactions are
		// serial anyway): refreshes of one segment run one at a time.
		seg, err := c.CustomerSegment.Query().Where(customersegment.ID(segmentID)).Modify(func(s *sql.Selector) {
			if s.Dialect() == dialect.Postgres {
				s.ForUpdate()
			}
		}).Only(ctx)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if seg.Kind != customersegment.KindDYNAMIC {
			return ErrNotDynamic
		}
		if seg.Status != customersegment.StatusACTIVE {
			return ErrNotActive
		}
		rule, ferrs := ParseMap(seg.Rules)
		if ferrs != nil {
			return &RuleError{Errors: ferrs}
		}
		now := s.now().UTC()
		// One evaluation of the rule, diffed in Go against the current
		// members: cheaper and more predictable than asking the planner
		// for the two differences (a NOT IN over the rule's subqueries).
		matching, err := c.Customer.Query().Where(Predicate(rule, merchantID, now)).IDs(ctx)
		if err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
		current, err := c.SegmentMember.Query().Where(segmentmember.SegmentID(segmentID)).
			Select(segmentmember.FieldCustomerID, segmentmember.FieldSource).All(ctx)
		if err != nil {
			return fmt.Errorf("members: %w", err)
		}
		matches := make(map[uuid.UUID]bool, len(matching))
		for _, id := range matching {
			matches[id] = true
		}
		member := make(map[uuid.UUID]bool, len(current))
		var leavers []uuid.UUID
		for _, m := range current {
			member[m.CustomerID] = true
			if m.Source == segmentmember.SourceRULE && !matches[m.CustomerID] {
				leavers = append(leavers, m.CustomerID)
			}
		}
		var joiners []uuid.UUID
		for _, id := range matching {
			if !member[id] {
				joiners = append(joiners, id)
			}
		}
		slices.SortFunc(joiners, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		for start := 0; start < len(leavers); start += chunk {
			part := leavers[start:min(start+chunk, len(leavers))]
			if _, err := c.SegmentMember.Delete().
				Where(segmentmember.SegmentID(segmentID), segmentmember.CustomerIDIn(part...), segmentmember.SourceEQ(segmentmember.SourceRULE)).
				Exec(ctx); err != nil {
				return fmt.Errorf("remove leavers: %w", err)
			}
		}
		if err := s.join(ctx, c, merchantID, segmentID, joiners, now); err != nil {
			return err
		}
		members := len(current) - len(leavers) + len(joiners)
		if err := c.CustomerSegment.UpdateOneID(segmentID).SetMemberCount(members).SetLastEvaluatedAt(now).
			SetEvaluationState(customersegment.EvaluationStateIDLE).ClearLastEvaluationError().Exec(ctx); err != nil {
			return err
		}
		res = RefreshResult{Joined: len(joiners), Left: len(leavers), Members: members}
		return nil
	})
	var re *RuleError
	if errors.As(err, &re) {
		s.markFailed(ctx, segmentID, re.Error())
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDynamic) || errors.Is(err, ErrNotActive) || re != nil {
			return RefreshResult{}, err
		}
		return RefreshResult{}, fmt.Errorf("segment: refresh %s: %w", segmentID, err)
	}
	return res, nil
}

// markFailed records that the segment could not be evaluated.
func (s *Service) markFailed(ctx context.Context, segmentID uuid.UUID, msg string) {
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	if err := s.client.CustomerSegment.UpdateOneID(segmentID).SetEvaluationState(customersegment.EvaluationStateFAILED).
		SetLastEvaluationError(msg).Exec(ctx); err != nil {
		slog.WarnContext(ctx, "segment: mark failed", "segment", segmentID, "err", err)
	}
}

// join adds customers to the segment as RULE members and writes a
// segment.entered event for each, through c (the caller's transaction).
func (s *Service) join(ctx context.Context, c *ent.Client, merchantID, segmentID uuid.UUID, customers []uuid.UUID, now time.Time) error {
	for start := 0; start < len(customers); start += chunk {
		part := customers[start:min(start+chunk, len(customers))]
		creates := make([]*ent.SegmentMemberCreate, len(part))
		for i, id := range part {
			creates[i] = c.SegmentMember.Create().SetMerchantID(merchantID).SetSegmentID(segmentID).
				SetCustomerID(id).SetAddedAt(now).SetSource(segmentmember.SourceRULE).
				SetCreatedAt(now).SetUpdatedAt(now)
		}
		if err := c.SegmentMember.CreateBulk(creates...).Exec(ctx); err != nil {
			return fmt.Errorf("add joiners: %w", err)
		}
	}
	for _, id := range customers {
		if _, err := events.Write(ctx, c, merchantID, events.SegmentEntered{SegmentID: segmentID, CustomerID: id, EnteredAt: now}); err != nil {
			return err
		}
	}
	return nil
}

// LoadSubject reads what Evaluate needs about one customer for the given
// rules: the profile, the customer's events of the types the rules count
// (within their longest window), and the products and categories bought
// when a rule asks.
func (s *Service) LoadSubject(ctx context.Context, merchantID, customerID uuid.UUID, rules ...*Rule) (Subject, error) {
	ctx, err := storeContext(ctx, merchantID)
	if err != nil {
		return Subject{}, err
	}
	return s.loadSubject(ctx, s.client, customerID, s.now().UTC(), rules)
}

func (s *Service) loadSubject(ctx context.Context, c *ent.Client, customerID uuid.UUID, now time.Time, rules []*Rule) (Subject, error) {
	cu, err := c.Customer.Get(ctx, customerID)
	if ent.IsNotFound(err) {
		return Subject{}, ErrNotFound
	}
	if err != nil {
		return Subject{}, err
	}
	sub := Subject{Now: now, Customer: cu}
	types := map[string]bool{}
	var since *time.Time
	allTime := false
	bought := false
	for _, r := range rules {
		r.Root.walk(func(n *Condition) {
			switch n.Kind {
			case KindEvent:
				types[n.Event] = true
				if n.WithinDays == 0 {
					allTime = true
				} else if t := daysBefore(now, n.WithinDays); since == nil || t.Before(*since) {
					since = &t
				}
			case KindOrder:
				bought = bought || n.Field == OrderBoughtProduct || n.Field == OrderBoughtCategory
			}
		})
	}
	if len(types) > 0 {
		names := make([]string, 0, len(types))
		for t := range types {
			names = append(names, t)
		}
		q := c.CustomerEvent.Query().Where(customerevent.CustomerID(customerID), customerevent.TypeIn(names...))
		if !allTime && since != nil {
			q = q.Where(customerevent.OccurredAtGTE(*since))
		}
		evs, err := q.Select(customerevent.FieldType, customerevent.FieldProperties, customerevent.FieldOccurredAt).All(ctx)
		if err != nil {
			return Subject{}, err
		}
		sub.Events = make([]Event, len(evs))
		for i, e := range evs {
			sub.Events[i] = Event{Type: e.Type, Properties: e.Properties, OccurredAt: e.OccurredAt}
		}
	}
	if bought {
		var rows []struct {
			ProductID  *uuid.UUID `sql:"product_id"`
			CategoryID *uuid.UUID `sql:"category_id"`
		}
		err := c.OrderItem.Query().
			Where(orderitem.HasOrderWith(order.CustomerID(customerID), order.StatusIn(
				order.StatusPAID, order.StatusFULFILLED, order.StatusDELIVERED, order.StatusPARTIALLY_REFUNDED))).
			Modify(func(sel *sql.Selector) {
				p := sql.Table(product.Table)
				sel.LeftJoin(p).On(sel.C(orderitem.FieldProductID), p.C(product.FieldID))
				sel.Select(sel.C(orderitem.FieldProductID), sql.As(p.C(product.FieldCategoryID), "category_id"))
			}).Scan(ctx, &rows)
		if err != nil {
			return Subject{}, err
		}
		sub.BoughtProducts = map[uuid.UUID]bool{}
		sub.BoughtCategories = map[uuid.UUID]bool{}
		for _, r := range rows {
			if r.ProductID != nil {
				sub.BoughtProducts[*r.ProductID] = true
			}
			if r.CategoryID != nil {
				sub.BoughtCategories[*r.CategoryID] = true
			}
		}
	}
	return sub, nil
}

// ReevaluateCustomer re-evaluates one customer against every DYNAMIC,
// ACTIVE segment of the store (call it when the customer's profile,
// events or orders change) and updates segment_members in one
// transaction: entered are the segments the customer joined (a RULE row, a
// segment.entered event and member_count + 1 each), left those whose RULE
// row was removed (member_count − 1). Segments with an invalid rule are
// skipped. A deleted customer leaves every segment.
func (s *Service) ReevaluateCustomer(ctx context.Context, merchantID, customerID uuid.UUID) (entered, left []uuid.UUID, err error) {
	ctx, err = storeContext(ctx, merchantID)
	if err != nil {
		return nil, nil, err
	}
	err = s.inTx(ctx, func(c *ent.Client) error {
		entered, left = nil, nil
		segs, err := c.CustomerSegment.Query().Where(customersegment.KindEQ(customersegment.KindDYNAMIC),
			customersegment.StatusEQ(customersegment.StatusACTIVE)).Order(customersegment.ByID()).All(ctx)
		if err != nil {
			return err
		}
		rules := make([]*Rule, 0, len(segs))
		valid := segs[:0:0]
		for _, seg := range segs {
			r, ferrs := ParseMap(seg.Rules)
			if ferrs != nil {
				slog.WarnContext(ctx, "segment: invalid rule skipped", "segment", seg.ID, "err", (&RuleError{Errors: ferrs}).Error())
				continue
			}
			rules = append(rules, r)
			valid = append(valid, seg)
		}
		now := s.now().UTC()
		sub, err := s.loadSubject(ctx, c, customerID, now, rules)
		if err != nil {
			return err
		}
		mems, err := c.SegmentMember.Query().Where(segmentmember.CustomerID(customerID)).All(ctx)
		if err != nil {
			return err
		}
		have := map[uuid.UUID]*ent.SegmentMember{}
		for _, m := range mems {
			have[m.SegmentID] = m
		}
		for i, seg := range valid {
			m := have[seg.ID]
			switch in := Evaluate(rules[i], sub); {
			case in && m == nil:
				if err := s.join(ctx, c, merchantID, seg.ID, []uuid.UUID{customerID}, now); err != nil {
					return err
				}
				if err := c.CustomerSegment.UpdateOneID(seg.ID).AddMemberCount(1).Exec(ctx); err != nil {
					return err
				}
				entered = append(entered, seg.ID)
			case !in && m != nil && m.Source == segmentmember.SourceRULE:
				if err := c.SegmentMember.DeleteOneID(m.ID).Exec(ctx); err != nil {
					return err
				}
				if _, err := c.CustomerSegment.Update().Where(customersegment.ID(seg.ID), customersegment.MemberCountGT(0)).
					AddMemberCount(-1).Save(ctx); err != nil {
					return err
				}
				left = append(left, seg.ID)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("segment: reevaluate customer %s: %w", customerID, err)
	}
	return entered, left, nil
}
