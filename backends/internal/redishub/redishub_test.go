package redishub_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
	"taskhost.dev/backends/internal/redishub"
)

// TestNoticeWakesWaiter: a message on the subscribed channel wakes the
// waiters of the id it names. The hub's poll is an hour, so only the
// notice can end the wait. Pub/sub ignores the database number; database
// 9 is this package's all the same, and the channel is the test's own.
func TestNoticeWakesWaiter(t *testing.T) {
	url := os.Getenv("TASKHOST_TEST_HUB_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/9"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	channel := fmt.Sprintf("rhtest:%d", time.Now().UnixNano())
	hub := &driver.Hub{Poll: time.Hour}
	hub.Listen = func(ctx context.Context, ready func()) {
		redishub.Listen(ctx, ready, hub, slog.New(slog.NewTextHandler(io.Discard, nil)), "test",
			func(ctx context.Context) *redis.PubSub { return rc.Subscribe(ctx, channel) },
			func(m *redis.Message) string { return m.Payload })
	}
	defer hub.Close()
	wait, cancel := hub.Subscribe("a")
	defer cancel()
	if err := rc.Publish(context.Background(), channel, "a").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := wait(ctx); err != nil {
		t.Fatalf("the waiter of a was not woken by a notice naming a: %v", err)
	}
}
