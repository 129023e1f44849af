// Package scale_test is the scale-and-faults harness (make test-scale): real
// host worker processes on three hosts of a private network, an engine on
// a fourth and the client on a fifth, all network namespaces of this
// machine; for each engine the throughput with one and three workers, and
// every task accounted for through a kill -9 of a worker, a worker cut off
// from the network, and a restart of the engine.
//
// TASKHOST_SCALE=full runs every engine and fault; TASKHOST_SCALE=short the
// short form: asynq, one and three workers, one killed worker. Unset, the
// harness is skipped: it needs root for its network namespaces.
package scale_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func full() bool { return os.Getenv("TASKHOST_SCALE") == "full" }

func TestScale(t *testing.T) {
	if os.Getenv("TASKHOST_SCALE") == "" {
		t.Skip("the scale harness runs under make test-scale (TASKHOST_SCALE=full or short; needs root)")
	}
	engines := []string{"asynq"}
	if full() {
		engines = []string{"asynq", "celery", "river", "temporal"}
	}
	for _, name := range engines {
		t.Run(name, func(t *testing.T) {
			l := newLab(t)
			var e *engine
			switch name {
			case "asynq", "celery":
				e = l.redisEngine(name)
			case "river":
				e = l.postgresEngine()
			case "temporal":
				e = l.temporalEngine()
			}
			n := 300
			if full() {
				n = 1000
			}
			one := l.throughput(t, e, 1, n)
			three := l.throughput(t, e, 3, n)
			report(t, "%s: %d tasks: 1 worker %.0f tasks/s, 3 workers %.0f tasks/s (%.2fx)", name, n, one, three, three/one)
			l.fault(t, e, "kill -9 of one worker", func(ws []*proc) { stop(ws[0], syscall.SIGKILL) })
			if full() {
				l.fault(t, e, "a worker cut off for 30 s", func([]*proc) { l.cut("w1"); time.Sleep(30 * time.Second); l.mend("w1") })
				l.fault(t, e, "an engine restart", func([]*proc) { e.restart() })
			}
		})
	}
}

// report logs a result line, and appends it to TASKHOST_SCALE_OUT when set
// (docs/RELIABILITY.md is written from it).
func report(t *testing.T, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	if out := os.Getenv("TASKHOST_SCALE_OUT"); out != "" {
		if f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

var runs int

// workers starts n workers on the lab's worker hosts, each on its own
// queue set, and waits until each answers /readyz in its namespace.
func (l *lab) workers(t *testing.T, e *engine, n int, queue string) (ps []*proc, logs []string) {
	t.Helper()
	runs++
	for i := 1; i <= n; i++ {
		host := fmt.Sprintf("w%d", i)
		log := filepath.Join(l.dir, fmt.Sprintf("worker-%d-%s.log", runs, host))
		args := append([]string{l.bin, "worker", "--backend", e.name, "--backend-url", e.url, "--plugins-dir", l.plugins,
			"--manifest", emptyManifest(t), "--cache-dir", filepath.Join(l.dir, "cache"), "--queues", queue, "--concurrency", "16",
			"--name", fmt.Sprintf("%s-%s-%d", host, queue, runs), "--log-level", "info", "--log-format", "json", "--grace", "5s",
			"--health-addr", addr(host) + ":8080"}, e.opts...)
		ps = append(ps, l.start(host, log, args...))
		logs = append(logs, log)
	}
	for i := 1; i <= n; i++ {
		host := fmt.Sprintf("w%d", i)
		ready := func() bool {
			out, err := l.run(context.Background(), host, nil, "bash", "-c", "exec 3<>/dev/tcp/"+addr(host)+"/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3")
			return err == nil && bytes.Contains(out, []byte(`"ready": true`))
		}
		if !eventually(2*time.Minute, ready) {
			b, _ := os.ReadFile(logs[i-1])
			t.Fatalf("worker %s was not ready within 2 minutes:\n%s", host, b)
		}
	}
	return ps, logs
}

func emptyManifest(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "manifest.toml")
	os.WriteFile(p, []byte("# only the plugins folder\n"), 0o644)
	return p
}

// client runs host in the client's namespace.
func (l *lab) client(ctx context.Context, e *engine, stdin []byte, args ...string) ([]byte, error) {
	full := append([]string{l.bin}, args...)
	full = append(full, "--backend", e.name, "--backend-url", e.url, "--plugins-dir", l.plugins, "--manifest", emptyManifest(l.t),
		"--cache-dir", filepath.Join(l.dir, "cache"))
	full = append(full, e.opts...)
	return l.run(ctx, "cli", stdin, full...)
}

// submit submits n tasks of task with input to queue, as a batch, and
// returns their ids.
func (l *lab) submit(t *testing.T, e *engine, queue, task, input string, n int) []string {
	t.Helper()
	var batch bytes.Buffer
	for range n {
		fmt.Fprintf(&batch, `{"task":%q,"input":%s,"queue":%q}`+"\n", task, input, queue)
	}
	out, err := l.client(context.Background(), e, batch.Bytes(), "submit", "--batch", "-")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	ids := strings.Fields(string(out))
	if len(ids) != n {
		t.Fatalf("submit: %d ids for %d tasks", len(ids), n)
	}
	return ids
}

// waitAll waits (in the client's namespace) for every task, and returns
// the status of each.
func (l *lab) waitAll(t *testing.T, e *engine, ids []string, within time.Duration) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out, err := l.client(ctx, e, nil, append([]string{"wait", "-o", "json"}, ids...)...)
	status := map[string]string{}
	for _, line := range bytes.Split(out, []byte("\n")) {
		var r struct{ ID, Status string }
		if json.Unmarshal(line, &r) == nil && r.ID != "" {
			status[r.ID] = r.Status
		}
	}
	if err != nil && len(status) < len(ids) {
		t.Logf("wait ended early: %v", err)
	}
	return status
}

// throughput submits n add tasks to n workers and returns tasks/s from
// the first submission to the last result.
func (l *lab) throughput(t *testing.T, e *engine, workers, n int) float64 {
	t.Helper()
	queue := fmt.Sprintf("tp%d_%d", workers, time.Now().UnixNano()%1e6)
	ps, _ := l.workers(t, e, workers, queue)
	defer func() {
		for _, p := range ps {
			stop(p, syscall.SIGTERM)
		}
	}()
	start := time.Now()
	ids := l.submit(t, e, queue, "add", `{"a":1,"b":2}`, n)
	status := l.waitAll(t, e, ids, 10*time.Minute)
	took := time.Since(start)
	ok := 0
	for _, id := range ids {
		if status[id] == "succeeded" {
			ok++
		}
	}
	if ok != n {
		t.Errorf("throughput with %d workers: %d of %d succeeded", workers, ok, n)
	}
	return float64(n) / took.Seconds()
}

// fault runs 300 sleep tasks of 300 ms on three workers, does what to them
// once they are busy, and accounts for every task: none lost, each run
// once or, if it was in flight at the fault, at most twice.
func (l *lab) fault(t *testing.T, e *engine, what string, do func([]*proc)) {
	t.Helper()
	queue := fmt.Sprintf("f%d", time.Now().UnixNano()%1e6)
	ps, logs := l.workers(t, e, 3, queue)
	defer func() {
		for _, p := range ps {
			stop(p, syscall.SIGTERM)
		}
	}()
	const n = 300
	ids := l.submit(t, e, queue, "sleep", `{"ms":300}`, n)
	// Busy: some tasks have finished.
	eventually(time.Minute, func() bool { return len(attempts(logs...)) >= 30 })
	start := time.Now()
	do(ps)
	status := l.waitAll(t, e, ids, 15*time.Minute)
	took := time.Since(start)
	lost, twice, more := 0, 0, 0
	ran := attempts(logs...)
	for _, id := range ids {
		if status[id] != "succeeded" {
			lost++
		}
		switch r := ran[id]; {
		case r == 2:
			twice++
		case r > 2:
			more++
		}
	}
	// Three workers of concurrency 16 hold at most 48 tasks at once.
	report(t, "%s, %s: %d tasks, %d not succeeded, %d run twice, %d more often; all done %s after the fault",
		e.name, what, n, lost, twice, more, took.Round(time.Second))
	if lost > 0 || more > 0 || twice > 48 {
		t.Errorf("%s, %s: %d lost, %d run twice (at most 48 were in flight), %d run more than twice", e.name, what, lost, twice, more)
	}
}
