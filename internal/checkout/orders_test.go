package checkout

import (
	"testing"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent/order"
	"github.com/omnisphere/omnisphere/schema/types"
)

// TestNext is the order lifecycle as a table: every (status, action) pair,
// allowed or refused.
func TestNext(t *testing.T) {
	const refused = order.Status("")
	want := map[order.Status]map[Action]order.Status{
		order.StatusPENDING: {ActPay: order.StatusPAID, ActCancel: order.StatusCANCELLED},
		order.StatusPAID: {ActFulfil: order.StatusFULFILLED, ActCancel: order.StatusCANCELLED,
			ActRefundPartial: order.StatusPARTIALLY_REFUNDED, ActRefundFull: order.StatusREFUNDED},
		order.StatusFULFILLED: {ActDeliver: order.StatusDELIVERED,
			ActRefundPartial: order.StatusPARTIALLY_REFUNDED, ActRefundFull: order.StatusREFUNDED},
		order.StatusDELIVERED: {ActRefundPartial: order.StatusPARTIALLY_REFUNDED, ActRefundFull: order.StatusREFUNDED},
		order.StatusPARTIALLY_REFUNDED: {ActFulfil: order.StatusPARTIALLY_REFUNDED, ActDeliver: order.StatusPARTIALLY_REFUNDED,
			ActRefundPartial: order.StatusPARTIALLY_REFUNDED, ActRefundFull: order.StatusREFUNDED},
	}
	statuses := []order.Status{order.StatusPENDING, order.StatusPAID, order.StatusFULFILLED, order.StatusDELIVERED,
		order.StatusCANCELLED, order.StatusREFUNDED, order.StatusPARTIALLY_REFUNDED}
	actions := []Action{ActPay, ActFulfil, ActDeliver, ActCancel, ActRefundPartial, ActRefundFull}
	for _, from := range statuses {
		for _, a := range actions {
			to, err := Next(from, a)
			expect, ok := want[from][a]
			if !ok {
				expect = refused
			}
			switch {
			case expect == refused && err == nil:
				t.Errorf("%s --%s--> %s: want INVALID_STATE", from, a, to)
			case expect == refused:
				if e, isUser := IsUserError(err); !isUser || e.Errors[0].Code != CodeInvalidState {
					t.Errorf("%s --%s-->: error %v, want INVALID_STATE", from, a, err)
				}
			case err != nil || to != expect:
				t.Errorf("%s --%s--> %s (%v), want %s", from, a, to, err, expect)
			}
		}
	}
}

// TestFee is the platform fee: basis points of the amount, rounded down,
// never more than the amount.
func TestFee(t *testing.T) {
	for _, c := range []struct {
		amount int64
		bps    int
		want   int64
	}{{3000, 200, 60}, {99, 200, 1}, {49, 200, 0}, {1000, 0, 0}, {1000, 20000, 1000}, {0, 200, 0}, {-5, 200, 0}} {
		if got := feeOf(c.amount, c.bps); got != c.want {
			t.Errorf("feeOf(%d, %d) = %d, want %d", c.amount, c.bps, got, c.want)
		}
	}
}

// TestAllocations: fulfilling or restocking part of a line takes units from
// its warehouses in order.
func TestAllocations(t *testing.T) {
	a, b := uuidN(1), uuidN(2)
	allocs := []allocation{{WarehouseID: a, Quantity: 2}, {WarehouseID: b, Quantity: 3}}
	if got := take(allocs, 4); len(got) != 2 || got[0].Quantity != 2 || got[1].Quantity != 2 {
		t.Errorf("take 4 = %+v", got)
	}
	if got := skip(allocs, 3, 2); len(got) != 1 || got[0].WarehouseID != b || got[0].Quantity != 2 {
		t.Errorf("skip 3 take 2 = %+v", got)
	}
	if got := skip(allocs, 1, 10); len(got) != 2 || got[0].Quantity != 1 || got[1].Quantity != 3 {
		t.Errorf("skip 1 take 10 = %+v", got)
	}
}

type allocation = types.Allocation

func uuidN(n byte) uuid.UUID { return uuid.UUID{15: n} }
