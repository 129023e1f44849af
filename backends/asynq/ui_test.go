package asynq_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"taskhost.dev/backends"
)

// TestWebUIServesAsynqmon: the driver's web UI is asynqmon, its page and
// its API, reading the engine through the driver's connection: a queue
// with a task submitted through the client is listed (issue 17).
func TestWebUIServesAsynqmon(t *testing.T) {
	ctx := context.Background()
	c, err := backends.Open(ctx, "asynq", backends.Config{URL: redisURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := "ui_" + time.Now().Format("150405.000000")
	queue = strings.ReplaceAll(queue, ".", "_")
	if err := c.Register(ctx, backends.TaskSpec{Name: "ui_echo", Queue: queue}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, "ui_echo", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	ui, err := c.WebUI(ctx, "/ui")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui)
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
		}
		return string(b)
	}
	if page := get("/ui/"); !strings.Contains(page, "<html") && !strings.Contains(page, "<!DOCTYPE") {
		t.Errorf("GET /ui/ is not asynqmon's page: %.200s", page)
	}
	if queues := get("/ui/api/queues"); !strings.Contains(queues, `"`+queue+`"`) {
		t.Errorf("asynqmon's /api/queues does not list %s: %.300s", queue, queues)
	}
}
