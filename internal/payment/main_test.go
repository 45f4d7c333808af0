package payment

import (
	"io"
	"log/slog"
	"os"
	"testing"
)

// TestMain keeps the audit lines of viewer.SystemContext (logged through the
// default logger) out of the test output.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}
