// Package testdb gives tests a fresh PostgreSQL database of their own.
package testdb

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Admin returns the URL of the test server's admin database:
// TASKHOST_TEST_POSTGRES, else the local server as the postgres user
// (make test starts it).
func Admin() string {
	if u := os.Getenv("TASKHOST_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Fresh drops and creates the database name and returns its URL. Each test
// package uses its own name, as packages run in parallel.
func Fresh(tb testing.TB, name string) string {
	tb.Helper()
	admin := Admin()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connecting to PostgreSQL at %s: %v (make test starts it; or set TASKHOST_TEST_POSTGRES)", admin, err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := conn.Exec(ctx, q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
}
