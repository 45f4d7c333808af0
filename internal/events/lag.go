package events

import (
	"context"
	"strings"
)

// GroupLag is how far one durable consumer group is behind
// (docs/observability.md).
type GroupLag struct {
	Group string
	// Pending is the number of entries delivered to the group's consumers
	// and not yet acknowledged.
	Pending int64
	// Lag is the number of entries of the stream not yet delivered to the
	// group; -1 when Redis cannot tell (after a trim past the group).
	Lag int64
}

// GroupLags reads the consumer groups of the stream (one XINFO GROUPS).
// No stream yet means no group.
func (s *Streams) GroupLags(ctx context.Context) ([]GroupLag, error) {
	groups, err := s.rdb.XInfoGroups(ctx, s.stream()).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return nil, nil
		}
		return nil, err
	}
	out := make([]GroupLag, 0, len(groups))
	for _, g := range groups {
		out = append(out, GroupLag{Group: g.Name, Pending: g.Pending, Lag: g.Lag})
	}
	return out, nil
}
