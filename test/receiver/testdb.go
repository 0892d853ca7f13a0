package receiver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenTest connects to the database named by EIDASTATSD_TEST_PG (see
// .ci/setup-postgres.sh), in a fresh schema dropped after the test, with the
// Schema tables created. Without the variable the test is skipped, or fails
// when CI is set, so CI can never skip silently.
func OpenTest(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := os.Getenv("EIDASTATSD_TEST_PG")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set): run .ci/setup-postgres.sh", ErrNoDSN)
		}
		t.Skipf("%v: run eval \"$(bash .ci/setup-postgres.sh)\" to run this test", ErrNoDSN)
	}
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)

	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", redactDSN(dsn), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// public holds the hll extension's types and functions.
	cfg.ConnConfig.RuntimeParams["search_path"] = schema + ",public"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(context.Background())
		}
	})
	if err := Setup(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func redactDSN(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return cfg.Host + "/" + cfg.Database
}
