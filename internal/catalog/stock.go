package catalog

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/warehouse"
	"github.com/omnisphere/omnisphere/schema/types"
)

// This file is the stock side of checkout and orders: reserving units for a
// placed order, giving them back, shipping them and restocking returns. The
// caller runs each in its own transaction c, acting for the store; every
// function locks the products concerned (in id order, the catalogue's lock
// order) and changes levels only with conditional updates, so concurrent
// checkouts never oversell and stock never goes negative.

// StockLine asks for Quantity units of a variant.
type StockLine struct {
	Variant  *ent.ProductVariant
	Quantity int
}

// StockMove is what an order line holds: units of a variant per warehouse.
type StockMove struct {
	VariantID   uuid.UUID
	ProductID   uuid.UUID
	Allocations []types.Allocation
}

// ShortageError says which lines could not be reserved in full and how many
// units were available for each (by line index).
type ShortageError struct {
	Available map[int]int
}

func (e *ShortageError) Error() string {
	return fmt.Sprintf("catalog: not enough stock for %d line(s)", len(e.Available))
}

// LockProducts takes the row locks of the products (PostgreSQL; SQLite
// serialises writers anyway) in id order, so that two transactions locking
// overlapping sets never deadlock.
func (s *Service) LockProducts(ctx context.Context, c *ent.Client, ids ...uuid.UUID) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	for _, id := range ids {
		if _, err := s.lockProduct(ctx, c, id); err != nil {
			return err
		}
	}
	return nil
}

// ReserveStock reserves the lines' units and returns, per line, the
// warehouses they were taken from. Variants that do not track inventory
// need no reservation (no allocation). Tracked units come from the store's
// active warehouses that fulfil online orders: the default warehouse first,
// then the ones with most available. A variant that allows backorders takes
// what is left from its first warehouse even beyond its stock. When a line
// cannot be served in full nothing is written by this call's caller (it
// rolls back on the *ShortageError). The products' aggregates and low-stock
// alerts are brought up to date.
func (s *Service) ReserveStock(ctx context.Context, c *ent.Client, lines []StockLine) ([][]types.Allocation, error) {
	products := make([]uuid.UUID, 0, len(lines))
	for _, l := range lines {
		products = append(products, l.Variant.ProductID)
	}
	if err := s.LockProducts(ctx, c, products...); err != nil {
		return nil, err
	}
	out := make([][]types.Allocation, len(lines))
	short := map[int]int{}
	var touched []uuid.UUID
	for i, l := range lines {
		if !l.Variant.TrackInventory || l.Quantity <= 0 {
			continue
		}
		touched = append(touched, l.Variant.ID)
		levels, err := c.InventoryLevel.Query().
			Where(inventorylevel.VariantID(l.Variant.ID),
				inventorylevel.HasWarehouseWith(warehouse.Active(true), warehouse.FulfillsOnlineOrders(true))).
			WithWarehouse().All(ctx)
		if err != nil {
			return nil, fmt.Errorf("catalog: stock levels: %w", err)
		}
		sort.SliceStable(levels, func(a, b int) bool {
			da, db := levels[a].Edges.Warehouse.IsDefault, levels[b].Edges.Warehouse.IsDefault
			if da != db {
				return da
			}
			return levels[a].QuantityOnHand-levels[a].QuantityReserved > levels[b].QuantityOnHand-levels[b].QuantityReserved
		})
		need := l.Quantity
		var got []types.Allocation
		for _, lv := range levels {
			if need == 0 {
				break
			}
			take := min(need, lv.QuantityOnHand-lv.QuantityReserved)
			if take <= 0 {
				continue
			}
			ok, err := reserveAt(ctx, c, lv.ID, take, false)
			if err != nil {
				return nil, err
			}
			if ok {
				got = append(got, types.Allocation{WarehouseID: lv.WarehouseID, Quantity: take})
				need -= take
			}
		}
		if need > 0 && l.Variant.AllowBackorder && len(levels) > 0 {
			if _, err := reserveAt(ctx, c, levels[0].ID, need, true); err != nil {
				return nil, err
			}
			got = mergeAllocation(got, types.Allocation{WarehouseID: levels[0].WarehouseID, Quantity: need})
			need = 0
		}
		if need > 0 {
			short[i] = l.Quantity - need
			continue
		}
		out[i] = got
	}
	if len(short) > 0 {
		return nil, &ShortageError{Available: short}
	}
	if len(touched) > 0 {
		if err := s.RefreshStock(ctx, c, touched...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reserveAt adds n to a level's reserved units, only while that many are
// available (unless backorder).
func reserveAt(ctx context.Context, c *ent.Client, levelID uuid.UUID, n int, backorder bool) (bool, error) {
	u := c.InventoryLevel.Update().Where(inventorylevel.ID(levelID))
	if !backorder {
		u.Where(func(s *sql.Selector) {
			onHand, reserved := s.C(inventorylevel.FieldQuantityOnHand), s.C(inventorylevel.FieldQuantityReserved)
			s.Where(sql.P(func(b *sql.Builder) {
				b.WriteString(onHand).WriteString(" - ").WriteString(reserved).WriteString(" >= ").Arg(n)
			}))
		})
	}
	got, err := u.AddQuantityReserved(n).Save(ctx)
	if err != nil {
		return false, fmt.Errorf("catalog: reserve stock: %w", err)
	}
	return got == 1, nil
}

func mergeAllocation(list []types.Allocation, a types.Allocation) []types.Allocation {
	for i := range list {
		if list[i].WarehouseID == a.WarehouseID {
			list[i].Quantity += a.Quantity
			return list
		}
	}
	return append(list, a)
}

// ReleaseStock gives reserved units back to sale (an order cancelled, its
// payment failed or its hold expired).
func (s *Service) ReleaseStock(ctx context.Context, c *ent.Client, moves []StockMove) error {
	return s.moveStock(ctx, c, moves, func(lv, q int) (reserved, onHand int) { return -q, 0 })
}

// ShipStock takes shipped units out of the warehouse: on hand and reserved
// both fall.
func (s *Service) ShipStock(ctx context.Context, c *ent.Client, moves []StockMove) error {
	return s.moveStock(ctx, c, moves, func(lv, q int) (reserved, onHand int) { return -q, -q })
}

// RestockShipped puts returned units (shipped before) back on hand.
func (s *Service) RestockShipped(ctx context.Context, c *ent.Client, moves []StockMove) error {
	return s.moveStock(ctx, c, moves, func(lv, q int) (reserved, onHand int) { return 0, q })
}

// moveStock applies delta to each allocation's level under the products'
// locks. Reserved units never fall below zero (a level adjusted by staff in
// between keeps what it has).
func (s *Service) moveStock(ctx context.Context, c *ent.Client, moves []StockMove, delta func(level, q int) (reserved, onHand int)) error {
	var products, variants []uuid.UUID
	for _, m := range moves {
		if len(m.Allocations) == 0 {
			continue
		}
		products = append(products, m.ProductID)
		variants = append(variants, m.VariantID)
	}
	if len(variants) == 0 {
		return nil
	}
	if err := s.LockProducts(ctx, c, products...); err != nil {
		return err
	}
	for _, m := range moves {
		for _, a := range m.Allocations {
			if a.Quantity <= 0 {
				continue
			}
			dr, dh := delta(0, a.Quantity)
			lv, err := c.InventoryLevel.Query().
				Where(inventorylevel.VariantID(m.VariantID), inventorylevel.WarehouseID(a.WarehouseID)).Only(ctx)
			if ent.IsNotFound(err) {
				continue // the level is gone with its warehouse
			}
			if err != nil {
				return err
			}
			u := c.InventoryLevel.UpdateOne(lv)
			if dr != 0 {
				u.SetQuantityReserved(max(0, lv.QuantityReserved+dr))
			}
			if dh != 0 {
				u.AddQuantityOnHand(dh)
			}
			if err := u.Exec(ctx); err != nil {
				return fmt.Errorf("catalog: move stock: %w", err)
			}
		}
	}
	return s.RefreshStock(ctx, c, variants...)
}
