package asynq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
)

// TestBatchReadByAsynq: the tasks SubmitMany writes in its one script are
// the tasks asynq's own Client writes for the same submissions: asynq's
// Inspector reads the same options back, the task hashes hold the same
// fields, an asynq server runs them, and a unique key held by a live task
// gives that task's id.
func TestBatchReadByAsynq(t *testing.T) {
	ctx := context.Background()
	b, err := backends.Open(ctx, "asynq", backends.Config{URL: redisURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	queue := fmt.Sprintf("batch_%d", time.Now().UnixNano())
	if err := b.Register(ctx, backends.TaskSpec{Name: "shout", Queue: queue, MaxRetries: 2, Timeout: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	opt, err := asynq.ParseRedisURI(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	rc := opt.MakeRedisClient().(redis.UniversalClient)
	defer rc.Close()

	// The same three submissions, one at a time (asynq's Client) and in a
	// batch (the script).
	subs := []backends.Submission{
		{Task: "shout", Input: json.RawMessage(`{"n":0}`)},
		{Task: "shout", Input: json.RawMessage(`{"n":1}`), Options: []backends.SubmitOption{backends.Delay(time.Hour)}},
		{Task: "shout", Input: json.RawMessage(`{"n":2}`), Options: []backends.SubmitOption{backends.UniqueKey("batch-" + queue)}},
	}
	var single []string
	for _, s := range subs[:2] {
		id, err := b.Submit(ctx, s.Task, s.Input, s.Options...)
		if err != nil {
			t.Fatal(err)
		}
		single = append(single, id)
	}
	batch, err := b.SubmitMany(ctx, subs)
	if err != nil || len(batch) != 3 {
		t.Fatalf("SubmitMany: %v, %v", batch, err)
	}
	info := func(id string) *asynq.TaskInfo {
		t.Helper()
		q, tid, _ := strings.Cut(id, "/")
		in, err := insp.GetTaskInfo(q, tid)
		if err != nil {
			t.Fatalf("asynq's Inspector on %s: %v", id, err)
		}
		return in
	}
	fields := func(id string) []string {
		q, tid, _ := strings.Cut(id, "/")
		h := rc.HKeys(ctx, "asynq:{"+q+"}:t:"+tid).Val()
		slices.Sort(h)
		return h
	}
	for i, id := range single {
		want, got := info(id), info(batch[i])
		if got.Type != want.Type || got.Queue != want.Queue || got.State != want.State || got.MaxRetry != want.MaxRetry ||
			got.Timeout != want.Timeout || got.Deadline != want.Deadline || got.Retention != want.Retention ||
			got.NextProcessAt.Sub(want.NextProcessAt).Abs() > 5*time.Second {
			t.Errorf("entry %d: asynq reads %+v from the batch, %+v from its own client", i, got, want)
		}
		if !strings.Contains(string(got.Payload), fmt.Sprintf(`"input":{"n":%d}`, i)) {
			t.Errorf("entry %d's payload %s", i, got.Payload)
		}
		if w, g := fields(id), fields(batch[i]); !slices.Equal(w, g) {
			t.Errorf("entry %d's task hash has fields %v; asynq's own client writes %v", i, g, w)
		}
	}
	if st := info(batch[1]).State; st != asynq.TaskStateScheduled {
		t.Errorf("the delayed entry is %s, want scheduled", st)
	}
	// The unique key is held by the batch's entry 2 while it is pending.
	again, err := b.SubmitMany(ctx, subs[2:])
	if err != nil || len(again) != 1 || again[0] != batch[2] {
		t.Errorf("a batch whose unique key a pending task holds: %v, %v; want that task's id %s", again, err, batch[2])
	}

	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{Queues: []string{queue}}, backends.HandlerFunc(func(ctx context.Context, task *backends.Task) (json.RawMessage, error) {
			return json.RawMessage(strings.ToUpper(string(task.Input))), nil
		}))
	}()
	defer func() { cancel(); <-done }()
	for _, i := range []int{0, 2} {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		r, err := b.Wait(wctx, batch[i])
		cancel()
		if err != nil || r.Status != backends.StatusSucceeded || string(r.Output) != fmt.Sprintf(`{"N":%d}`, i) {
			t.Errorf("batch entry %d run by asynq: %+v, %v", i, r, err)
		}
	}
	for _, id := range []string{single[1], batch[1]} {
		if err := b.Cancel(ctx, id); err != nil && !errors.Is(err, backends.ErrFinished) {
			t.Errorf("cancelling the delayed task %s: %v", id, err)
		}
	}
}
