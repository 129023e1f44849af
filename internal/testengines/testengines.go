// Package testengines gives tests the engines the repository's scripts
// start.
package testengines

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// LoadHatchetEnv sets the Hatchet client variables (HATCHET_CLIENT_TOKEN,
// HATCHET_CLIENT_HOST_PORT, ...) that scripts/hatchet-up.sh wrote to
// $TASKHOST_STATE_DIR/env (default /tmp/taskhost-hatchet/env), for those
// not set already. It reports whether a token is set afterwards.
func LoadHatchetEnv() bool {
	dir := os.Getenv("TASKHOST_STATE_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "taskhost-hatchet")
	}
	if f, err := os.Open(filepath.Join(dir, "env")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok && os.Getenv(k) == "" {
				os.Setenv(k, v)
			}
		}
	}
	return os.Getenv("HATCHET_CLIENT_TOKEN") != ""
}
