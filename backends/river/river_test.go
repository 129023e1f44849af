package river_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	"taskhost.dev/backends/river"
	"taskhost.dev/internal/testdb"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

func TestConformanceSQLite(t *testing.T) {
	backendtest.Run(t, "river", backends.Config{URL: filepath.Join(t.TempDir(), "river.db")})
}

func TestConformancePostgres(t *testing.T) {
	backendtest.Run(t, "river", backends.Config{URL: testdb.Fresh(t, "taskhost_river_test")})
}

func TestPrioritiesUnsupported(t *testing.T) {
	b, err := backends.Open(context.Background(), "river", backends.Config{URL: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Work(context.Background(), backends.WorkerOptions{Priorities: map[string]int{"a": 2}}, nil)
	if !errors.Is(err, backends.ErrUnsupported) || !strings.Contains(err.Error(), "river: queue priorities is not supported") {
		t.Fatalf("got %v, want ErrUnsupported naming river and queue priorities", err)
	}
}

func TestJobTimeoutJSON(t *testing.T) {
	for _, tc := range []struct{ in, out string }{{`"1m30s"`, `"1m30s"`}, {`60000000000`, `"1m0s"`}} {
		if got, err := river.TimeoutRoundTrip(tc.in); err != nil || got != tc.out {
			t.Errorf("timeout %s: %s, %v; want %s", tc.in, got, err, tc.out)
		}
	}
	if _, err := river.TimeoutRoundTrip(`true`); err == nil {
		t.Error("a timeout of true was read")
	}
}
