package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"taskhost.dev/internal/testplugins"
)

// TestMain lets a test run this test binary as the host command itself
// (TASKHOST_TEST_MAIN=1), so that it can signal a real host process.
func TestMain(m *testing.M) {
	if os.Getenv("TASKHOST_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestRunEndsOnSIGTERM: SIGTERM to `host run` of a guest spinning in a loop
// with a timeout of a minute ends the process at once, the task reported
// cancelled (issue 14: a guest that escaped its meter ignored SIGTERM for
// eleven minutes).
func TestRunEndsOnSIGTERM(t *testing.T) {
	wasm := testplugins.Build(t, "host/testdata/hostile")
	manifest := filepath.Join(t.TempDir(), "manifest.toml")
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf("[[plugin]]\nname = \"hostile\"\npath = %q\n[plugin.limits]\ntimeout = \"1m\"\n", wasm)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "run", "--manifest", manifest, "--plugins-dir", t.TempDir(), "--cache-dir", t.TempDir(), "announced_loop", "{}")
	cmd.Env = append(os.Environ(), "TASKHOST_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var seen []string
	for lines.Scan() && !strings.Contains(lines.Text(), "spinning now") {
		seen = append(seen, lines.Text())
	}
	if lines.Err() != nil || !strings.Contains(lines.Text(), "spinning now") {
		cmd.Process.Kill()
		t.Fatalf("the guest never said it spins; stderr: %s", strings.Join(seen, "\n"))
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	err = cmd.Wait()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("host run after SIGTERM: %v, want a non-zero exit", err)
	}
	if !strings.Contains(rest.String(), "cancel") {
		t.Errorf("host run after SIGTERM said %q, want the task cancelled", rest.String())
	}
	// The promise is "within its grace"; a run has none: it ends at once.
	// The bound is generous for a loaded machine; the guest stops in about
	// a millisecond.
	if took > 5*time.Second {
		t.Errorf("host run took %s to end after SIGTERM", took)
	}
	t.Logf("host run ended %s after SIGTERM: %s", took, strings.TrimSpace(rest.String()))
}
