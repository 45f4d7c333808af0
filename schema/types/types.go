// Package types holds the Go types of ent's JSON columns that have a shape
// of their own. It imports nothing of this module, so that the generated
// ent package can use it without an import cycle (schema imports ent).
package types

import "github.com/google/uuid"

// WeightBand is one price band of a weight-based shipping method: carts
// whose shipped weight is at most MaxGrams pay Price (minor units).
type WeightBand struct {
	MaxGrams int   `json:"maxGrams"`
	Price    int64 `json:"price"`
}

// Allocation is the part of an order line's quantity held in (and shipped
// from) one warehouse.
type Allocation struct {
	WarehouseID uuid.UUID `json:"warehouseId"`
	Quantity    int       `json:"quantity"`
}
