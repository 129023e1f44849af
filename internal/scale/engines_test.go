package scale_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// engine is one engine set up in the lab's engine namespace.
type engine struct {
	name    string   // the backend
	url     string   // its URL, as a worker and client in the lab reach it
	opts    []string // more flags for workers and clients
	restart func()   // stops the engine's server and starts it again on its data
}

// redisEngine runs a redis-server of the lab's own (append-only file, so a
// restart keeps the tasks) for asynq or Celery.
func (l *lab) redisEngine(backend string) *engine {
	l.t.Helper()
	dir := filepath.Join(l.dir, "redis")
	os.MkdirAll(dir, 0o755)
	startRedis := func() *proc {
		return l.start("eng", filepath.Join(l.dir, "redis.log"), "redis-server", "--bind", addr("eng"), "--port", "6379",
			"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", dir, "--protected-mode", "no")
	}
	srv := startRedis()
	ping := func() bool {
		out, err := l.run(context.Background(), "cli", nil, "redis-cli", "-h", addr("eng"), "ping")
		return err == nil && strings.Contains(string(out), "PONG")
	}
	if !eventually(10*time.Second, ping) {
		l.t.Fatal("the lab's redis-server did not answer")
	}
	e := &engine{name: backend, url: "redis://" + addr("eng") + ":6379/0"}
	e.restart = func() {
		stop(srv, syscall.SIGTERM) // it writes its AOF and exits
		srv = startRedis()
		if !eventually(10*time.Second, ping) {
			l.t.Fatal("the lab's redis-server did not come back")
		}
	}
	if backend == "asynq" {
		e.opts = []string{"--backend-opt", "task_check_interval=5ms"}
	}
	if backend == "celery" {
		// kombu's default visibility timeout is an hour: a lost worker's
		// tasks come back after 10 s here.
		e.opts = []string{"--backend-opt", "visibility_timeout=10s"}
	}
	return e
}

// postgresEngine runs a PostgreSQL cluster of the lab's own, made with
// initdb, for River.
func (l *lab) postgresEngine() *engine {
	l.t.Helper()
	bin := pgBin()
	if bin == "" {
		l.t.Skip("no PostgreSQL server binaries (initdb) on this machine")
	}
	data := filepath.Join(l.dir, "pg")
	os.MkdirAll(data, 0o700)
	exec.Command("chown", "-R", "postgres:postgres", data).Run()
	l.must("runuser", "-u", "postgres", "--", filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C")
	os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte("local all all trust\nhost all all "+subnet+".0/24 trust\n"), 0o600)
	exec.Command("chown", "postgres:postgres", filepath.Join(data, "pg_hba.conf")).Run()
	ctl := func(args ...string) {
		l.t.Helper()
		out, err := l.run(context.Background(), "eng", nil, append([]string{"runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-t", "60"}, args...)...)
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(data, "pg.log"))
			l.t.Fatalf("pg_ctl %v: %v\n%s\n%s", args, err, out, log)
		}
	}
	opts := fmt.Sprintf("-c listen_addresses=%s -c port=5432 -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off -c max_connections=200", addr("eng"), data)
	ctl("-l", filepath.Join(data, "pg.log"), "-o", opts, "start") // the postgres user writes it
	l.t.Cleanup(func() {
		l.run(context.Background(), "eng", nil, "runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
	})
	return &engine{name: "river", url: "postgres://postgres@" + addr("eng") + ":5432/postgres?sslmode=disable",
		restart: func() { ctl("-m", "fast", "-o", opts, "restart") }}
}

func pgBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// temporalEngine runs a Temporal dev server (the cached CLI that
// scripts/temporal-up.sh installs) on a database file, so that a restart
// keeps the workflows.
func (l *lab) temporalEngine() *engine {
	l.t.Helper()
	home, _ := os.UserCacheDir()
	cli := filepath.Join(home, "taskhost", "tools", "temporal-v1.5.1")
	if _, err := os.Stat(cli); err != nil {
		l.t.Skip("no Temporal CLI in the cache (scripts/temporal-up.sh installs it)")
	}
	db := filepath.Join(l.dir, "temporal.db")
	args := []string{cli, "server", "start-dev", "--headless", "--ip", addr("eng"), "--port", "7233", "--log-level", "error", "--db-filename", db}
	for _, k := range []string{"transfer", "timer", "visibility", "outbound"} {
		args = append(args, "--dynamic-config-value", "history."+k+"ProcessorMaxPollRPS=1000")
	}
	srv := l.start("eng", filepath.Join(l.dir, "temporal.log"), args...)
	healthy := func() bool {
		_, err := l.run(context.Background(), "cli", nil, cli, "operator", "cluster", "health", "--address", addr("eng")+":7233")
		return err == nil
	}
	if !eventually(60*time.Second, healthy) {
		l.t.Fatal("the lab's Temporal server did not answer within a minute")
	}
	return &engine{name: "temporal", url: addr("eng") + ":7233", restart: func() {
		stop(srv, syscall.SIGTERM)
		srv = l.start("eng", filepath.Join(l.dir, "temporal.log"), args...)
		if !eventually(60*time.Second, healthy) {
			l.t.Fatal("the lab's Temporal server did not come back")
		}
	}}
}
