package celery_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	_ "taskhost.dev/backends/celery"
	"taskhost.dev/backends/internal/benchtest"
	"taskhost.dev/backends/internal/redisflow/redisflowtest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// redisURL is the Redis the tests use: database 4 (each package that uses
// Redis has its own database number).
func redisURL() string {
	if u := os.Getenv("TASKHOST_TEST_CELERY_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/4"
}

// TestConformance runs the suite on the local Redis. The visibility
// timeout is short so that the killed worker's tasks come back soon.
func TestConformance(t *testing.T) {
	backendtest.Run(t, "celery", backends.Config{URL: redisURL(), Options: map[string]string{"visibility_timeout": "4s"}})
}

// TestStepRerunAfterFailedAdvance: a step whose workflow bookkeeping fails
// (its hash made a string while it runs) is sent again as a retry that
// does not count, runs again within seconds, and the workflow succeeds.
// Before, the delivery stayed unacknowledged, kept fresh by its own
// worker, and never ran again while that worker lived.
func TestStepRerunAfterFailedAdvance(t *testing.T) {
	rc := redis.NewClient(mustParse(t, redisURL()))
	defer rc.Close()
	// taskhost:celery:wf:ID is the workflow's hash (celery.go, flowPrefix).
	redisflowtest.AdvanceFault(t, "celery", backends.Config{URL: redisURL()}, rc, func(id string) string { return "taskhost:celery:wf:" + id })
}

// TestStopPutsBackHeldETA: a worker holding a task for its ETA puts it
// back on its queue at once when stopped, rather than waiting for the
// ETA or losing it; another worker then runs it.
func TestStopPutsBackHeldETA(t *testing.T) {
	ctx := context.Background()
	b := open(t, nil)
	q := uniqueQueue("eta")
	register(t, b, backends.TaskSpec{Name: "g_upper", Queue: q})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Work(wctx, backends.WorkerOptions{}, goTasks) }()
	id, err := b.Submit(ctx, "g_upper", json.RawMessage(`{"text":"later"}`), backends.Delay(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(mustParse(t, redisURL()))
	defer rc.Close()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := rc.LLen(ctx, q).Result(); n == 0 {
			break // taken, and held
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the worker did not take the delayed task within 10s")
		}
	}
	stopped := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("Work took %s to return while holding a delayed task", took)
	}
	if n, _ := rc.LLen(ctx, q).Result(); n != 1 {
		t.Fatalf("after the stop the queue holds %d messages, want the delayed task back", n)
	}
	work(t, b, goTasks, backends.WorkerOptions{})
	r := waitFor(t, b, id, 30*time.Second)
	if r.Status != backends.StatusSucceeded || r.StartedAt.Before(stopped.Add(2*time.Second)) {
		t.Errorf("the delayed task: %+v; want it run by the second worker at its ETA", r)
	}
}

func mustParse(t *testing.T, url string) *redis.Options {
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

// BenchmarkRoundTrip: go test ./backends/celery -run '^$' -bench . -benchtime 2000x
func BenchmarkRoundTrip(b *testing.B) {
	benchtest.RoundTrip(b, "celery", backends.Config{URL: redisURL()})
}

func BenchmarkParallel(b *testing.B) {
	benchtest.Parallel(b, "celery", backends.Config{URL: redisURL()})
}
