package asynq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
	info, err := insp.GetTaskInfo(q, taskID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "shout" || info.State != asynq.TaskStateCompleted || string(info.Result) != `{"TEXT":"HI"}` || !strings.Contains(string(info.Payload), `"input":{"text":"hi"}`) {
		t.Errorf("asynq.Inspector sees %+v (result %s, payload %s)", info, info.Result, info.Payload)
	}
}
