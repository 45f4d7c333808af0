package catalog

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productvariant"
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
// overlapping sets never deadlock. It is one statement: PostgreSQL locks the
// rows of a SELECT … ORDER BY … FOR UPDATE in the order it returns them.
func (s *Service) LockProducts(ctx context.Context, c *ent.Client, ids ...uuid.UUID) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	found, err := c.Product.Query().Where(product.IDIn(ids...)).Order(ent.Asc(product.FieldID)).
		Modify(forUpdate).IDs(ctx)
	if err != nil {
		return fmt.Errorf("catalog: lock products: %w", err)
	}
	if len(found) != len(ids) {
		return ErrNotFound
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
//
// Checkout runs it for every order, so it reads everything it needs once,
// under the products' locks (which every change of stock takes): the levels
// of the products' tracked variants with their warehouses. Its statements
// do not grow with the lines beyond one lock-free reservation and one
// product update each.
func (s *Service) ReserveStock(ctx context.Context, c *ent.Client, lines []StockLine) ([][]types.Allocation, error) {
	var products []uuid.UUID
	for _, l := range lines {
		if l.Variant.TrackInventory && l.Quantity > 0 {
			products = append(products, l.Variant.ProductID)
		}
	}
	out := make([][]types.Allocation, len(lines))
	if len(products) == 0 {
		return out, nil
	}
	if err := s.LockProducts(ctx, c, products...); err != nil {
		return nil, err
	}
	st, err := loadStock(ctx, c, products)
	if err != nil {
		return nil, err
	}
	short := map[int]int{}
	exact := true // st still mirrors the rows
	var touched []*ent.ProductVariant
	for i, l := range lines {
		if !l.Variant.TrackInventory || l.Quantity <= 0 {
			continue
		}
		touched = append(touched, l.Variant)
		var levels []*ent.InventoryLevel
		for _, lv := range st.levels[l.Variant.ID] {
			if w := lv.Edges.Warehouse; w != nil && w.Active && w.FulfillsOnlineOrders {
				levels = append(levels, lv)
			}
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
				lv.QuantityReserved += take
				got = append(got, types.Allocation{WarehouseID: lv.WarehouseID, Quantity: take})
				need -= take
			} else {
				exact = false
			}
		}
		if need > 0 && l.Variant.AllowBackorder && len(levels) > 0 {
			if _, err := reserveAt(ctx, c, levels[0].ID, need, true); err != nil {
				return nil, err
			}
			levels[0].QuantityReserved += need
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
	if !exact {
		// A level changed without its product's lock: read it all again.
		ids := make([]uuid.UUID, len(touched))
		for i, v := range touched {
			ids[i] = v.ID
		}
		return out, s.RefreshStock(ctx, c, ids...)
	}
	return out, s.refreshReserved(ctx, c, st, touched)
}

// productStock is the stock of locked products: every level of their
// tracked variants (with its warehouse) by variant, and the variants'
// products.
type productStock struct {
	levels  map[uuid.UUID][]*ent.InventoryLevel
	product map[uuid.UUID]uuid.UUID
}

func loadStock(ctx context.Context, c *ent.Client, products []uuid.UUID) (*productStock, error) {
	levels, err := c.InventoryLevel.Query().
		Where(inventorylevel.HasVariantWith(productvariant.ProductIDIn(products...), productvariant.TrackInventory(true))).
		WithWarehouse().
		WithVariant(func(q *ent.ProductVariantQuery) { q.Select(productvariant.FieldProductID) }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: stock levels: %w", err)
	}
	st := &productStock{levels: map[uuid.UUID][]*ent.InventoryLevel{}, product: map[uuid.UUID]uuid.UUID{}}
	for _, lv := range levels {
		st.levels[lv.VariantID] = append(st.levels[lv.VariantID], lv)
		if v := lv.Edges.Variant; v != nil {
			st.product[lv.VariantID] = v.ProductID
		}
	}
	return st, nil
}

// refreshReserved is RefreshStock after a reservation, from the levels in
// st (updated in memory): the low-stock alerts of the variants reserved, and
// the total inventory of their products. Their price ranges do not change.
func (s *Service) refreshReserved(ctx context.Context, c *ent.Client, st *productStock, variants []*ent.ProductVariant) error {
	products := map[uuid.UUID]bool{}
	checked := map[uuid.UUID]bool{}
	for _, v := range variants {
		if checked[v.ID] {
			continue // the same variant on two lines
		}
		checked[v.ID] = true
		if err := s.checkLowStock(ctx, c, v, nonNilLevels(st.levels[v.ID])); err != nil {
			return err
		}
		products[v.ProductID] = true
	}
	total := map[uuid.UUID]int{}
	for vid, levels := range st.levels {
		a := 0
		for _, lv := range levels {
			a += lv.QuantityOnHand - lv.QuantityReserved
		}
		total[st.product[vid]] += max(a, 0)
	}
	for _, id := range slices.SortedFunc(maps.Keys(products), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
		if err := c.Product.Update().Where(product.ID(id)).SetTotalInventory(total[id]).Exec(ctx); err != nil {
			return fmt.Errorf("catalog: product stock: %w", err)
		}
	}
	return nil
}

// nonNilLevels makes "no levels" an empty list, which checkLowStock takes
// as given rather than loading.
func nonNilLevels(l []*ent.InventoryLevel) []*ent.InventoryLevel {
	if l == nil {
		return []*ent.InventoryLevel{}
	}
	return l
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
