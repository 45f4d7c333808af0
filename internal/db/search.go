package db

import (
	"context"
	"database/sql"
	"fmt"
)

// The storefront's text search on SQLite (internal/storefront): an FTS5
// table, product_search, with one row per product (rowid = the product's
// rowid) holding its title, tags, description and variant SKUs, kept in
// step by triggers on products and product_variants. The unicode61
// tokenizer splits words at every character that is not a letter or a digit
// and lower-cases them, as the 'simple' configuration of PostgreSQL's
// full-text search does over the same normalised text (migration
// 00003_storefront_search.sql), so both backends find the same products.
//
// FTS5 keeps its data in shadow tables (product_search_data, _idx,
// _content, _docsize, _config); they are the only tables besides ent's.
// PostgreSQL needs none of this: it searches with GIN expression indexes.
var sqliteSearchDDL = []string{
	`CREATE VIRTUAL TABLE IF NOT EXISTS product_search USING fts5(
		product_id UNINDEXED, title, tags, description, skus,
		tokenize = 'unicode61 remove_diacritics 0')`,
	`CREATE TRIGGER IF NOT EXISTS product_search_insert AFTER INSERT ON products BEGIN
		INSERT INTO product_search (rowid, product_id, title, tags, description, skus)
		VALUES (new.rowid, new.id, new.title, CAST(new.tags AS TEXT), COALESCE(new.description, ''),
			COALESCE((SELECT group_concat(sku, ' ') FROM product_variants WHERE product_id = new.id), ''));
	END`,
	`CREATE TRIGGER IF NOT EXISTS product_search_update AFTER UPDATE OF title, tags, description ON products BEGIN
		UPDATE product_search SET title = new.title, tags = CAST(new.tags AS TEXT),
			description = COALESCE(new.description, '')
		WHERE rowid = new.rowid;
	END`,
	`CREATE TRIGGER IF NOT EXISTS product_search_delete AFTER DELETE ON products BEGIN
		DELETE FROM product_search WHERE rowid = old.rowid;
	END`,
	`CREATE TRIGGER IF NOT EXISTS product_search_variant_insert AFTER INSERT ON product_variants BEGIN
		UPDATE product_search SET skus = COALESCE((SELECT group_concat(sku, ' ') FROM product_variants WHERE product_id = new.product_id), '')
		WHERE rowid = (SELECT rowid FROM products WHERE id = new.product_id);
	END`,
	`CREATE TRIGGER IF NOT EXISTS product_search_variant_update AFTER UPDATE OF sku ON product_variants BEGIN
		UPDATE product_search SET skus = COALESCE((SELECT group_concat(sku, ' ') FROM product_variants WHERE product_id = new.product_id), '')
		WHERE rowid = (SELECT rowid FROM products WHERE id = new.product_id);
	END`,
	`CREATE TRIGGER IF NOT EXISTS product_search_variant_delete AFTER DELETE ON product_variants BEGIN
		UPDATE product_search SET skus = COALESCE((SELECT group_concat(sku, ' ') FROM product_variants WHERE product_id = old.product_id), '')
		WHERE rowid = (SELECT rowid FROM products WHERE id = old.product_id);
	END`,
}

// SQLiteSearchTables are the tables FTS5 creates for product_search.
var SQLiteSearchTables = []string{
	"product_search", "product_search_config", "product_search_content",
	"product_search_data", "product_search_docsize", "product_search_idx",
}

// searchInSync is true when product_search holds exactly one row per
// product, under the product's rowid.
const searchInSync = `SELECT
	(SELECT count(*) FROM products) = (SELECT count(*) FROM product_search) AND
	(SELECT count(*) FROM products) = (SELECT count(*) FROM product_search s JOIN products p ON p.rowid = s.rowid AND p.id = s.product_id)`

// rebuildSearch refills product_search from the tables.
var rebuildSearch = []string{
	`DELETE FROM product_search`,
	`INSERT INTO product_search (rowid, product_id, title, tags, description, skus)
	SELECT p.rowid, p.id, p.title, CAST(p.tags AS TEXT), COALESCE(p.description, ''),
		COALESCE((SELECT group_concat(v.sku, ' ') FROM product_variants v WHERE v.product_id = p.id), '')
	FROM products p`,
}

// migrateSQLiteSearch creates product_search and its triggers when missing,
// and rebuilds the index when it disagrees with the products: on a database
// made before it existed, or after a VACUUM renumbered the rowids (SQLite
// may do that for tables without an INTEGER PRIMARY KEY). It runs with
// every migration, that is on every start.
func migrateSQLiteSearch(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: search index: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range sqliteSearchDDL {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("db: search index: %w", err)
		}
	}
	var ok bool
	if err := tx.QueryRowContext(ctx, searchInSync).Scan(&ok); err != nil {
		return fmt.Errorf("db: search index check: %w", err)
	}
	if !ok {
		for _, q := range rebuildSearch {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("db: search index rebuild: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: search index: %w", err)
	}
	return nil
}
