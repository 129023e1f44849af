package asynq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
	_ "taskhost.dev/backends/asynq"
	"taskhost.dev/backends/backendtest"
	"taskhost.dev/backends/internal/benchtest"
	"taskhost.dev/backends/internal/redisflow/redisflowtest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// TestConformance runs the suite on the local Redis, in database 3 (each
// package that uses Redis has its own database number).
func TestConformance(t *testing.T) {
	backendtest.Run(t, "asynq", backends.Config{URL: redisURL()})
}

// TestStepRerunAfterFailedAdvance: a step whose workflow bookkeeping fails
// (its hash made a string while it runs) runs again within seconds,
// without spending a retry, and the workflow succeeds.
func TestStepRerunAfterFailedAdvance(t *testing.T) {
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	// taskhost:wf:ID is the workflow's hash (asynq.go, flowPrefix).
	redisflowtest.AdvanceFault(t, "asynq", backends.Config{URL: redisURL()}, rc, func(id string) string { return "taskhost:wf:" + id })
}

// TestReadByAsynqInspector reads our tasks back with asynq's own
// Inspector, a client this project did not write.
func TestReadByAsynqInspector(t *testing.T) {
	ctx := context.Background()
	b, err := backends.Open(ctx, "asynq", backends.Config{URL: redisURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	queue := fmt.Sprintf("inspector_%d", time.Now().UnixNano())
	if err := b.Register(ctx, backends.TaskSpec{Name: "shout", Queue: queue}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{}, backends.HandlerFunc(func(ctx context.Context, task *backends.Task) (json.RawMessage, error) {
			return json.RawMessage(strings.ToUpper(string(task.Input))), nil
		}))
	}()
	defer func() { cancel(); <-done }()
	id, err := b.Submit(ctx, "shout", json.RawMessage(`{"text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	wctx2, cancel2 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel2()
	if r, err := b.Wait(wctx2, id); err != nil || r.Status != backends.StatusSucceeded {
		t.Fatalf("Wait: %+v, %v", r, err)
	}
	q, taskID, _ := strings.Cut(id, "/")
	opt, err := asynq.ParseRedisURI(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	// Wait returns on the worker's record, written as the handler returns;
	// asynq marks the task completed a moment later.
	var info *asynq.TaskInfo
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		info, err = insp.GetTaskInfo(q, taskID)
		if err != nil {
			t.Fatal(err)
		}
		if info.State == asynq.TaskStateCompleted || time.Since(start) > 10*time.Second {
			break
		}
	}
	if info.Type != "shout" || info.State != asynq.TaskStateCompleted || string(info.Result) != `{"TEXT":"HI"}` || !strings.Contains(string(info.Payload), `"input":{"text":"hi"}`) {
		t.Errorf("asynq.Inspector sees %+v (result %s, payload %s)", info, info.Result, info.Payload)
	}
}

// BenchmarkRoundTrip: go test ./backends/asynq -run '^$' -bench . -benchtime 2000x
func BenchmarkRoundTrip(b *testing.B) {
	benchtest.RoundTrip(b, "asynq", backends.Config{URL: redisURL()})
}

func BenchmarkParallel(b *testing.B) {
	benchtest.Parallel(b, "asynq", backends.Config{URL: redisURL()})
}
