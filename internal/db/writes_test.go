package db

import "testing"

func TestWrittenTable(t *testing.T) {
	for _, tc := range []struct {
		query, table string
		ok           bool
	}{
		{`INSERT INTO "products" ("id") VALUES ($1) RETURNING "id"`, "products", true},
		{"INSERT INTO `products` (`id`) VALUES (?)", "products", true},
		{`  UPDATE "inventory" SET "quantity_on_hand" = $1`, "inventory", true},
		{`update inventory set x = 1`, "inventory", true},
		{`DELETE FROM "product_images" WHERE "id" = $1`, "product_images", true},
		{`INSERT INTO products(id) VALUES (1)`, "products", true},
		{`SELECT * FROM "products" FOR UPDATE`, "", false},
		{`SELECT set_config('role', $1, true)`, "", false},
		{`INSERT INTO `, "", false},
		{`UPDATE "unterminated`, "", false},
		{``, "", false},
	} {
		table, ok := writtenTable(tc.query)
		if table != tc.table || ok != tc.ok {
			t.Errorf("writtenTable(%q) = %q, %v; want %q, %v", tc.query, table, ok, tc.table, tc.ok)
		}
	}
}
