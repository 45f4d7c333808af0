package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/dbtest"
	"github.com/omnisphere/omnisphere/internal/ids"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

func TestReadTxSharesOneSnapshotPerOperation(t *testing.T) {
	d := dbtest.OpenPool(t, 4)
	a := ids.New(ids.Code("merchant_accounts"))
	fill(t, dbtest.Postgres, d, a)
	ctx := ctxFor(a)

	op, end := d.WithReadTx(ctx)
	n1, err := d.Client.Product.Query().Count(op)
	require.NoError(t, err)
	// A writer commits meanwhile (outside the operation).
	_, err = d.Client.Product.Create().SetTitle("New").SetSlug("new").Save(ctx)
	require.NoError(t, err)
	n2, err := d.Client.Product.Query().Count(op)
	require.NoError(t, err)
	require.Equal(t, n1, n2, "statements of one operation see one snapshot")
	// Another fence (the system path) inside the operation gets its own
	// transaction and sees the write.
	n3, err := d.Client.Product.Query().Count(viewer.SystemContext(op, "test"))
	require.NoError(t, err)
	require.Equal(t, n1+1, n3)
	// The operation's transaction is read-only.
	_, err = d.Client.Product.Create().SetTitle("X").SetSlug("x").Save(op)
	require.Error(t, err)
	end()
	_, err = d.Client.Product.Query().Count(op)
	require.Error(t, err, "no statement after the operation ended")
	n4, err := d.Client.Product.Query().Count(ctx)
	require.NoError(t, err)
	require.Equal(t, n1+1, n4)

	// On the pool nothing is left behind.
	var who string
	require.NoError(t, d.SQL.QueryRowContext(context.Background(), `SELECT current_user`).Scan(&who))
	require.NotEqual(t, "omnisphere_app", who)
}

func TestReadTxEndsWithItsRequest(t *testing.T) {
	d := dbtest.OpenPool(t, 1) // a leaked transaction would hold the only connection
	a := ids.New(ids.Code("merchant_accounts"))
	fill(t, dbtest.Postgres, d, a)
	reqCtx, cancel := context.WithCancel(ctxFor(a))
	op, _ := d.WithReadTx(reqCtx) // the end function is never called
	_, err := d.Client.Product.Query().Count(op)
	require.NoError(t, err)
	cancel() // the request ends
	ctx, done := context.WithTimeout(ctxFor(a), 10*time.Second)
	defer done()
	_, err = d.Client.Product.Query().Count(ctx)
	require.NoError(t, err, "the connection was given back when the request ended")
}
