package asynq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"taskhost.dev/backends"
	_ "taskhost.dev/backends/asynq"
	"taskhost.dev/backends/backendtest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// TestConformance runs the suite on the local Redis, in database 3 (each
// package that uses Redis has its own database number).
func TestConformance(t *testing.T) {
	backendtest.Run(t, "asynq", backends.Config{URL: redisURL()})
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
	b.Register(backends.TaskSpec{Name: "shout", Queue: queue})
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

// TestStrictPriority: with strict priority and one task at a time, the
// high queue's waiting tasks all run before the low queue's.
func TestStrictPriority(t *testing.T) {
	ctx := context.Background()
	b, err := backends.Open(ctx, "asynq", backends.Config{URL: redisURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	suffix := fmt.Sprint(time.Now().UnixNano())
	high, low := "high_"+suffix, "low_"+suffix
	b.Register(backends.TaskSpec{Name: "p_low", Queue: low}, backends.TaskSpec{Name: "p_high", Queue: high})
	var ids []string
	for i := 0; i < 4; i++ {
		id, _ := b.Submit(ctx, "p_low", json.RawMessage(`{}`))
		ids = append(ids, id)
	}
	for i := 0; i < 4; i++ {
		id, _ := b.Submit(ctx, "p_high", json.RawMessage(`{}`))
		ids = append(ids, id)
	}
	var mu sync.Mutex
	var order []string
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{Concurrency: 1, Priorities: map[string]int{high: 2, low: 1}, StrictPriority: true},
			backends.HandlerFunc(func(ctx context.Context, task *backends.Task) (json.RawMessage, error) {
				mu.Lock()
				order = append(order, task.Name)
				mu.Unlock()
				return json.RawMessage(`{}`), nil
			}))
	}()
	defer func() { cancel(); <-done }()
	wctx2, cancel2 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel2()
	for _, id := range ids {
		if _, err := b.Wait(wctx2, id); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := "p_high p_high p_high p_high p_low p_low p_low p_low"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}
