package river_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	_ "taskhost.dev/backends/river"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

func TestConformanceSQLite(t *testing.T) {
	backendtest.Run(t, "river", backends.Config{URL: filepath.Join(t.TempDir(), "river.db")})
}

func TestConformancePostgres(t *testing.T) {
	backendtest.Run(t, "river", backends.Config{URL: testDatabase(t, "taskhost_river_test")})
}

// testDatabase creates a fresh PostgreSQL database for this package and
// returns its URL. The server is TASKHOST_TEST_POSTGRES (default the local
// one, as the postgres user).
func testDatabase(t *testing.T, name string) string {
	t.Helper()
	admin := os.Getenv("TASKHOST_TEST_POSTGRES")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to PostgreSQL at %s: %v (make test starts it; or set TASKHOST_TEST_POSTGRES)", admin, err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
}
