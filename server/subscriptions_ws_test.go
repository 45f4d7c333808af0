package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/graph"
	"github.com/omnisphere/omnisphere/internal/ratelimit"
)

// TestAppendCostOf: the extensions.cost of a shared subscription's event
// is what encoding/json makes of costState.report.
func TestAppendCostOf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		executed bool
		decision *ratelimit.Decision
		rate     float64
		at       time.Duration // how long ago the decision was taken
	}{
		{name: "not executed, no decision"},
		{name: "executed, no decision", executed: true},
		{name: "draining (no restore)", executed: true, decision: &ratelimit.Decision{Allowed: true, Available: 987.6}},
		{name: "restored to the capacity", executed: true, decision: &ratelimit.Decision{Available: 10}, rate: 50, at: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &costState{requested: 3, limit: ratelimit.Limit{Capacity: 1000, Rate: tc.rate}, decision: tc.decision,
				at: time.Now().Add(-tc.at)}
			st.actual.Store(2)
			st.executed.Store(tc.executed)
			want, err := json.Marshal(st.report())
			require.NoError(t, err)
			got := appendCostOf(nil, st, time.Now())
			require.JSONEq(t, string(want), string(got))
			require.Equal(t, string(want), string(got), "the same bytes")
		})
	}
}

// TestAppendNext: a shared subscription's next message is the message
// gqlgen's transport writes, with a payload in the shape of its response.
func TestAppendNext(t *testing.T) {
	s := &wsSender{id: []byte(`"7<"`)}
	r := &graph.Rendering{Data: json.RawMessage(`{"a":1}`)}
	require.Equal(t, `{"payload":{"data":{"a":1}},"id":"7<","type":"next"}`, string(s.appendNext(nil, r)))
	r.Errors = json.RawMessage(`[{"message":"x"}]`)
	st := &costState{requested: 1}
	s.cost = st
	got := s.appendNext(nil, r)
	require.Equal(t, `{"payload":{"errors":[{"message":"x"}],"data":{"a":1},"extensions":{"cost":{"requestedQueryCost":1,"actualQueryCost":null}}},"id":"7<","type":"next"}`, string(got))
	require.True(t, json.Valid(got))
}
