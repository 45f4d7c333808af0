package db_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// TestOnWrite: the write hook hears of a write once it is committed, with
// its table and merchant; a rolled back transaction says nothing; a system
// write names no merchant.
func TestOnWrite(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			d := dbtest.Open(t, b)
			var mu sync.Mutex
			var got []db.Write
			d.OnWrite(func(w db.Write) {
				mu.Lock()
				got = append(got, w)
				mu.Unlock()
			})
			take := func() []db.Write {
				mu.Lock()
				defer mu.Unlock()
				out := got
				got = nil
				return out
			}
			c := d.Client
			sys := viewer.SystemContext(context.Background(), "test")
			m, err := c.MerchantAccount.Create().SetName("a").SetSlug("a").Save(sys)
			require.NoError(t, err)
			require.Equal(t, []db.Write{{MerchantID: uuid.Nil, Table: "merchant_accounts"}}, take())

			staff := viewer.NewContext(context.Background(), viewer.Viewer{Kind: viewer.Staff, MerchantID: m.ID, UserID: uuid.New()})
			_, err = c.ProductCategory.Create().SetName("c").SetSlug("c").Save(staff)
			require.NoError(t, err)
			require.Equal(t, []db.Write{{MerchantID: m.ID, Table: "product_categories"}}, take())

			// Reads are not writes.
			_, err = c.ProductCategory.Query().All(staff)
			require.NoError(t, err)
			require.Empty(t, take())

			// A transaction reports at commit, once per table; not before.
			boom := errors.New("boom")
			err = db.InTx(staff, c, func(tx *ent.Client) error {
				for _, s := range []string{"x", "y"} {
					if _, err := tx.ProductCategory.Create().SetName(s).SetSlug(s).Save(staff); err != nil {
						return err
					}
				}
				require.Empty(t, take(), "nothing before the commit")
				return boom
			})
			require.ErrorIs(t, err, boom)
			require.Empty(t, take(), "a rolled back transaction wrote nothing")
			require.NoError(t, db.InTx(staff, c, func(tx *ent.Client) error {
				for _, s := range []string{"x", "y"} {
					if _, err := tx.ProductCategory.Create().SetName(s).SetSlug(s).Save(staff); err != nil {
						return err
					}
				}
				return nil
			}))
			require.Equal(t, []db.Write{{MerchantID: m.ID, Table: "product_categories"}}, take())
		})
	}
}
