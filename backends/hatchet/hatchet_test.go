package hatchet_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	_ "taskhost.dev/backends/hatchet"
)

func TestMain(m *testing.M) {
	loadEngineEnv()
	backendtest.Main(m)
}

// loadEngineEnv reads the client environment scripts/hatchet-up.sh wrote,
// for the variables not set already.
func loadEngineEnv() {
	dir := os.Getenv("TASKHOST_STATE_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "taskhost-hatchet")
	}
	f, err := os.Open(filepath.Join(dir, "env"))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
}

// engine skips the test when no engine is configured, unless
// TASKHOST_REQUIRE_HATCHET is set (make test sets it, after
// scripts/hatchet-up.sh).
func engine(t *testing.T) {
	t.Helper()
	if os.Getenv("HATCHET_CLIENT_TOKEN") == "" {
		if os.Getenv("TASKHOST_REQUIRE_HATCHET") != "" {
			t.Fatal("no Hatchet engine: HATCHET_CLIENT_TOKEN is not set and scripts/hatchet-up.sh wrote no environment")
		}
		t.Skip("no Hatchet engine (scripts/hatchet-up.sh starts one)")
	}
}

// TestConformance runs the suite against the hatchet-lite engine of
// scripts/hatchet-up.sh.
func TestConformance(t *testing.T) {
	engine(t)
	backendtest.Run(t, "hatchet", backends.Config{})
}
