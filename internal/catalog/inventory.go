package catalog

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/auditlog"
	"github.com/omnisphere/omnisphere/ent/inventorylevel"
	"github.com/omnisphere/omnisphere/ent/predicate"
	"github.com/omnisphere/omnisphere/ent/productvariant"
	"github.com/omnisphere/omnisphere/ent/warehouse"
	"github.com/omnisphere/omnisphere/internal/events"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// maxStock bounds one adjustment and an imported stock level.
const maxStock = 1_000_000_000

// AdjustReasons are the reasons an inventory adjustment may give.
var AdjustReasons = []string{"RECEIVED", "CORRECTION", "CYCLE_COUNT", "DAMAGED", "SHRINKAGE", "RETURN_RESTOCK", "PROMOTION", "OTHER"}

// AdjustInput is the input of AdjustInventory.
type AdjustInput struct {
	VariantID   uuid.UUID
	WarehouseID uuid.UUID
	// Delta is added to the stock on hand (negative removes).
	Delta  int
	Reason string
	Note   *string
}

// AdjustInventory adds Delta to a variant's stock on hand in a warehouse
// (creating the level at first), never below zero. It runs as one
// conditional UPDATE under the product's row lock, so concurrent
// adjustments never lose one. When the variant's available stock summed over
// its warehouses falls to or below the sum of its levels' thresholds, an
// inventory.low event is written to the outbox in the same transaction, once
// per dip (low_stock_alerted_at; a restock above the threshold re-arms it).
// The adjustment and its reason go to the audit log.
func (s *Service) AdjustInventory(ctx context.Context, in AdjustInput) (*ent.InventoryLevel, error) {
	p := &problems{}
	switch {
	case in.Delta == 0:
		p.add(CodeInvalid, path("delta"), "delta must not be 0")
	case in.Delta > maxStock || in.Delta < -maxStock:
		p.add(CodeInvalid, path("delta"), "delta must be between -%d and %d", maxStock, maxStock)
	}
	if !contains(AdjustReasons, in.Reason) {
		p.add(CodeInvalid, path("reason"), "reason must be one of %s", strings.Join(AdjustReasons, ", "))
	}
	note := text(p, path("note"), in.Note, 500)
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.InventoryLevel
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		v, w, err := s.variantAndWarehouse(ctx, c, in.VariantID, in.WarehouseID)
		if err != nil {
			return err
		}
		if _, err := s.lockProduct(ctx, c, v.ProductID); err != nil {
			return err
		}
		level, err := adjustLevel(ctx, c, v.ID, w.ID, in.Delta)
		if err != nil {
			return err
		}
		if err := s.checkLowStock(ctx, c, v, nil); err != nil {
			return err
		}
		if err := refreshProduct(ctx, c, v.ProductID); err != nil {
			return err
		}
		meta := map[string]any{"variantId": v.ID.String(), "sku": v.Sku, "warehouseId": w.ID.String(),
			"delta": in.Delta, "reason": in.Reason, "quantityOnHand": level.QuantityOnHand}
		if note != nil && *note != "" {
			meta["note"] = *note
		}
		if err := audit(ctx, c, "inventory.adjust", "inventory", level.ID.String(), meta); err != nil {
			return err
		}
		out, err = c.InventoryLevel.Get(ctx, level.ID)
		return err
	})
	return done(out, err)
}

// variantAndWarehouse loads both of the viewer's store, or answers NOT_FOUND.
func (s *Service) variantAndWarehouse(ctx context.Context, c *ent.Client, vid, wid uuid.UUID) (*ent.ProductVariant, *ent.Warehouse, error) {
	p := &problems{}
	v, err := c.ProductVariant.Get(ctx, vid)
	if ent.IsNotFound(err) {
		p.add(CodeNotFound, path("variantId"), "no variant with this id")
	} else if err != nil {
		return nil, nil, err
	}
	w, err := c.Warehouse.Get(ctx, wid)
	if ent.IsNotFound(err) {
		p.add(CodeNotFound, path("warehouseId"), "no warehouse with this id")
	} else if err != nil {
		return nil, nil, err
	}
	return v, w, p.err()
}

// adjustLevel adds delta to the stock on hand of (variant, warehouse) with a
// conditional update (on hand + delta >= 0), creating the level when there
// is none.
func adjustLevel(ctx context.Context, c *ent.Client, vid, wid uuid.UUID, delta int) (*ent.InventoryLevel, error) {
	at := []predicate.InventoryLevel{inventorylevel.VariantID(vid), inventorylevel.WarehouseID(wid)}
	n, err := c.InventoryLevel.Update().Where(append(at, inventorylevel.QuantityOnHandGTE(-delta))...).
		AddQuantityOnHand(delta).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: adjust stock: %w", err)
	}
	if n > 0 {
		return c.InventoryLevel.Query().Where(at...).Only(ctx)
	}
	exists, err := c.InventoryLevel.Query().Where(at...).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if exists || delta < 0 {
		return nil, fieldErr(CodeInvalid, path("delta"), "stock on hand would fall below zero")
	}
	return c.InventoryLevel.Create().SetVariantID(vid).SetWarehouseID(wid).SetQuantityOnHand(delta).Save(ctx)
}

// checkLowStock writes an inventory.low outbox event when the variant's
// available stock (on hand − reserved over its warehouses) is at or below
// its threshold (the sum of its levels' thresholds) and no alert is armed,
// and re-arms the alert once the stock is above the threshold again. levels
// are the variant's levels when the caller has them (nil: loaded). The
// caller holds the product's lock.
func (s *Service) checkLowStock(ctx context.Context, c *ent.Client, v *ent.ProductVariant, levels []*ent.InventoryLevel) error {
	if !v.TrackInventory {
		return nil
	}
	if levels == nil {
		var err error
		if levels, err = c.InventoryLevel.Query().Where(inventorylevel.VariantID(v.ID)).All(ctx); err != nil {
			return err
		}
	}
	if len(levels) == 0 {
		return nil
	}
	var onHand, reserved, threshold int
	alerted := false
	for _, l := range levels {
		onHand += l.QuantityOnHand
		reserved += l.QuantityReserved
		threshold += l.LowStockThreshold
		alerted = alerted || l.LowStockAlertedAt != nil
	}
	available := onHand - reserved
	now := s.now()
	switch {
	case available <= threshold && !alerted:
		_, err := events.Write(ctx, c, v.MerchantID, events.InventoryLow{
			VariantID: v.ID, ProductID: v.ProductID, SKU: v.Sku,
			QuantityAvailable: available, QuantityOnHand: onHand, Threshold: threshold,
		})
		if err != nil {
			return fmt.Errorf("catalog: outbox inventory.low: %w", err)
		}
		_, err = c.InventoryLevel.Update().Where(inventorylevel.VariantID(v.ID)).SetLowStockAlertedAt(now).Save(ctx)
		return err
	case available > threshold && alerted:
		_, err := c.InventoryLevel.Update().Where(inventorylevel.VariantID(v.ID)).ClearLowStockAlertedAt().Save(ctx)
		return err
	}
	return nil
}

// refreshProduct recomputes a product's denormalised price range and total
// inventory (available units over its tracked variants, each never below
// zero), which storefront listings filter and sort on. The caller holds the
// product's lock.
func refreshProduct(ctx context.Context, c *ent.Client, productID uuid.UUID) error {
	vs, err := c.ProductVariant.Query().Where(productvariant.ProductID(productID)).
		Select(productvariant.FieldID, productvariant.FieldPrice, productvariant.FieldTrackInventory).All(ctx)
	if err != nil {
		return fmt.Errorf("catalog: product aggregates: %w", err)
	}
	var lo, hi int64
	var tracked []uuid.UUID
	for i, v := range vs {
		if i == 0 || v.Price < lo {
			lo = v.Price
		}
		if v.Price > hi {
			hi = v.Price
		}
		if v.TrackInventory {
			tracked = append(tracked, v.ID)
		}
	}
	total := 0
	if len(tracked) > 0 {
		var rows []struct {
			VariantID uuid.UUID `json:"variant_id"`
			OnHand    int       `json:"on_hand"`
			Reserved  int       `json:"reserved"`
		}
		err := c.InventoryLevel.Query().Where(inventorylevel.VariantIDIn(tracked...)).
			GroupBy(inventorylevel.FieldVariantID).
			Aggregate(
				ent.As(ent.Sum(inventorylevel.FieldQuantityOnHand), "on_hand"),
				ent.As(ent.Sum(inventorylevel.FieldQuantityReserved), "reserved"),
			).Scan(ctx, &rows)
		if err != nil {
			return fmt.Errorf("catalog: product stock: %w", err)
		}
		for _, r := range rows {
			if a := r.OnHand - r.Reserved; a > 0 {
				total += a
			}
		}
	}
	return c.Product.UpdateOneID(productID).SetPriceMin(lo).SetPriceMax(hi).SetTotalInventory(total).Exec(ctx)
}

// RefreshStock is for code outside the catalogue that changes stock (checkout
// reserving, fulfilment, restocking refunds) in its own transaction c: it
// brings the products' aggregates up to date and raises or re-arms the
// low-stock alerts of the variants. Lock the products' rows first (in id
// order), as the catalogue does.
func (s *Service) RefreshStock(ctx context.Context, c *ent.Client, variantIDs ...uuid.UUID) error {
	vs, err := c.ProductVariant.Query().Where(productvariant.IDIn(variantIDs...)).All(ctx)
	if err != nil {
		return err
	}
	products := map[uuid.UUID]bool{}
	for _, v := range vs {
		if err := s.checkLowStock(ctx, c, v, nil); err != nil {
			return err
		}
		products[v.ProductID] = true
	}
	for id := range products {
		if err := refreshProduct(ctx, c, id); err != nil {
			return err
		}
	}
	return nil
}

// LevelInput is the input of UpdateInventoryLevel.
type LevelInput struct {
	VariantID         uuid.UUID
	WarehouseID       uuid.UUID
	LowStockThreshold *int
	BinLocation       Nullable[string]
}

// UpdateInventoryLevel sets the low-stock threshold (and bin) of a variant
// in a warehouse, creating the level (with no stock) at first. A threshold
// that the stock is now at or below raises the alert.
func (s *Service) UpdateInventoryLevel(ctx context.Context, in LevelInput) (*ent.InventoryLevel, error) {
	p := &problems{}
	if in.LowStockThreshold != nil && (*in.LowStockThreshold < 0 || *in.LowStockThreshold > maxStock) {
		p.add(CodeInvalid, path("lowStockThreshold"), "lowStockThreshold must be between 0 and %d", maxStock)
	}
	bin := nullableText(p, path("binLocation"), in.BinLocation, 100)
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.InventoryLevel
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		v, w, err := s.variantAndWarehouse(ctx, c, in.VariantID, in.WarehouseID)
		if err != nil {
			return err
		}
		if _, err := s.lockProduct(ctx, c, v.ProductID); err != nil {
			return err
		}
		level, err := c.InventoryLevel.Query().Where(inventorylevel.VariantID(v.ID), inventorylevel.WarehouseID(w.ID)).Only(ctx)
		if ent.IsNotFound(err) {
			level, err = c.InventoryLevel.Create().SetVariantID(v.ID).SetWarehouseID(w.ID).Save(ctx)
		}
		if err != nil {
			return err
		}
		u := c.InventoryLevel.UpdateOne(level)
		if in.LowStockThreshold != nil {
			u.SetLowStockThreshold(*in.LowStockThreshold)
		}
		setNullable(bin, u.Mutation().SetBinLocation, u.Mutation().ClearBinLocation)
		if level, err = u.Save(ctx); err != nil {
			return err
		}
		if err := s.checkLowStock(ctx, c, v, nil); err != nil {
			return err
		}
		out, err = c.InventoryLevel.Get(ctx, level.ID)
		return err
	})
	return done(out, err)
}

// WarehouseInput is the input of CreateWarehouse.
type WarehouseInput struct {
	Name                 string
	Code                 string
	Address1, Address2   *string
	City, Province       *string
	PostalCode           *string
	CountryCode          *string
	Phone                *string
	IsDefault            *bool
	Active               *bool
	FulfillsOnlineOrders *bool
}

var (
	warehouseCodeRe = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{0,49}$`)
	countryRe       = regexp.MustCompile(`^[A-Z]{2}$`)
)

// CreateWarehouse creates a stock location. The store's first warehouse, or
// one created with IsDefault, becomes the default one.
func (s *Service) CreateWarehouse(ctx context.Context, in WarehouseInput) (*ent.Warehouse, error) {
	p := &problems{}
	name := *text(p, path("name"), &in.Name, 200)
	if name == "" {
		p.add(CodeRequired, path("name"), "name is required")
	}
	code := strings.ToUpper(strings.TrimSpace(in.Code))
	if !warehouseCodeRe.MatchString(code) {
		p.add(CodeInvalid, path("code"), "code must be 1-50 letters, digits, - or _")
	}
	addr1 := text(p, path("address1"), in.Address1, 255)
	addr2 := text(p, path("address2"), in.Address2, 255)
	city := text(p, path("city"), in.City, 120)
	prov := text(p, path("province"), in.Province, 120)
	postal := text(p, path("postalCode"), in.PostalCode, 20)
	phone := text(p, path("phone"), in.Phone, 32)
	var country *string
	if in.CountryCode != nil {
		cc := strings.ToUpper(strings.TrimSpace(*in.CountryCode))
		if cc != "" && !countryRe.MatchString(cc) {
			p.add(CodeInvalid, path("countryCode"), "countryCode must be an ISO 3166-1 alpha-2 code")
		}
		country = &cc
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.Warehouse
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		taken, err := c.Warehouse.Query().Where(warehouse.Code(code)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return fieldErr(CodeTaken, path("code"), "code %q is used by another warehouse", code)
		}
		hasDefault, err := c.Warehouse.Query().Where(warehouse.IsDefault(true)).Exist(ctx)
		if err != nil {
			return err
		}
		isDefault := !hasDefault || (in.IsDefault != nil && *in.IsDefault)
		if isDefault && hasDefault {
			if _, err := c.Warehouse.Update().Where(warehouse.IsDefault(true)).SetIsDefault(false).Save(ctx); err != nil {
				return err
			}
		}
		m := c.Warehouse.Create().SetName(name).SetCode(code).SetIsDefault(isDefault).
			SetNillableAddress1(nonEmpty(addr1)).SetNillableAddress2(nonEmpty(addr2)).
			SetNillableCity(nonEmpty(city)).SetNillableProvince(nonEmpty(prov)).
			SetNillablePostalCode(nonEmpty(postal)).SetNillableCountryCode(nonEmpty(country)).
			SetNillablePhone(nonEmpty(phone)).SetNillableActive(in.Active).
			SetNillableFulfillsOnlineOrders(in.FulfillsOnlineOrders)
		out, err = m.Save(ctx)
		return err
	})
	return done(out, err)
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// audit writes an audit entry of the viewer of ctx through c (the
// transaction of the change it records).
func audit(ctx context.Context, c *ent.Client, action, resourceType, resourceID string, meta map[string]any) error {
	v := viewer.FromContext(ctx)
	req := viewer.RequestFromContext(ctx)
	create := c.AuditLog.Create().SetAction(action).SetResourceType(resourceType).SetResourceID(resourceID).
		SetIP(clip(req.IP, 64)).SetUserAgent(clip(req.UserAgent, 512)).SetRequestID(clip(req.ID, 64))
	switch {
	case v.Kind == viewer.APIKey:
		create.SetActorType(auditlog.ActorTypeAPI_KEY).SetActorID(v.APIKeyID)
	case v.UserID != uuid.Nil:
		create.SetActorType(auditlog.ActorTypeUSER).SetActorID(v.UserID)
	default:
		create.SetActorType(auditlog.ActorTypeSYSTEM)
	}
	if meta != nil {
		create.SetMetadata(meta)
	}
	if err := create.Exec(ctx); err != nil {
		return fmt.Errorf("catalog: audit %s: %w", action, err)
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
