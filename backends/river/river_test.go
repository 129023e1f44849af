package river_test

import (
	"path/filepath"
	"testing"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	_ "taskhost.dev/backends/river"
	"taskhost.dev/internal/testdb"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

func TestConformanceSQLite(t *testing.T) {
	backendtest.Run(t, "river", backends.Config{URL: filepath.Join(t.TempDir(), "river.db")})
}

func TestConformancePostgres(t *testing.T) {
	backendtest.Run(t, "river", backends.Config{URL: testdb.Fresh(t, "taskhost_river_test")})
}
