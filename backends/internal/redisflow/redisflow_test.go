package redisflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
	"taskhost.dev/backends/internal/redisflow"
	"taskhost.dev/internal/jsontest"
)

// store is a Store on the local Redis, database 7 (each package that uses
// Redis has its own database number), under a prefix of the test's own;
// announced lists the ids EndFlow announced.
func store(t *testing.T) (s *redisflow.Store, rc *redis.Client, announced *[]string) {
	t.Helper()
	url := os.Getenv("TASKHOST_TEST_FLOW_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/7"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc = redis.NewClient(opt)
	if err := rc.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at %s: %v", url, err)
	}
	prefix := fmt.Sprintf("rftest:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, err := rc.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
		rc.Close()
	})
	announced = new([]string)
	s = &redisflow.Store{RC: rc, Prefix: prefix, TTL: time.Hour, Announce: func(_ context.Context, id string) error {
		*announced = append(*announced, id)
		return nil
	}}
	return s, rc, announced
}

var parallel = *driver.NewWorkflow("p").Parallel(driver.Step{Task: "a"}, driver.Step{Task: "b"}).Then("c")

func TestStepCountedOnce(t *testing.T) {
	s, rc, announced := store(t)
	ctx := context.Background()
	if err := s.CreateFlow(ctx, "wf", parallel); err != nil {
		t.Fatal(err)
	}
	step := func(stage, index int, out string) *driver.StageDone {
		t.Helper()
		done, err := s.StepDone(ctx, driver.FlowRef{ID: "wf", Stage: stage, Index: index}, json.RawMessage(out))
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	if step(0, 1, `"b"`) != nil {
		t.Fatal("the first of two steps ended its stage")
	}
	// Step 1 runs again (a redelivery): counted once, its first output kept.
	if step(0, 1, `"b again"`) != nil {
		t.Fatal("a step run twice was counted twice: its stage ended without step 0")
	}
	done := step(0, 0, `{"a":1}`)
	if done == nil || done.Workflow.Name != "p" || len(done.Outputs) != 2 || !jsontest.Equal(done.Outputs[0], `{"a":1}`) || string(done.Outputs[1]) != `"b"` {
		t.Fatalf("the stage's last step: %+v, want the definition and the outputs {\"a\":1}, \"b\"", done)
	}
	// Run again after its stage ended (the runner's next step failed): the
	// stage reads as done again, so that the runner retries what follows.
	if again := step(0, 0, `{"a":2}`); again == nil || !jsontest.Equal(again.Outputs[0], `{"a":1}`) {
		t.Fatalf("a finished stage's step run again: %+v, want the stage done with its first outputs", again)
	}
	if ttl := rc.PTTL(ctx, s.Key("wf")+":done").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("the done set's expiry: %s, want the workflow's", ttl)
	}
	if err := s.EndFlow(ctx, "wf", json.RawMessage(`{"end":true}`), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.EndFlow(ctx, "wf", nil, &driver.FailedStep{TaskError: &driver.TaskError{Kind: abi.KindFailed, Message: "late"}}); err != nil {
		t.Fatal(err)
	}
	if len(*announced) != 1 || (*announced)[0] != "wf" {
		t.Errorf("announced %v, want wf once (the second EndFlow found it ended)", *announced)
	}
	if err := s.SetTaskIDs(ctx, "wf", 0, []string{"t0", "t1"}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.ReadFlow(ctx, "wf")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != driver.StatusSucceeded || !jsontest.Equal(rec.Output, `{"end":true}`) || rec.Failed != nil ||
		rec.TaskIDs[[2]int{0, 1}] != "t1" || len(rec.TaskIDs) != 2 || rec.CreatedAt.IsZero() || rec.FinishedAt.Before(rec.CreatedAt) {
		t.Errorf("ReadFlow = %+v", rec)
	}
	if len(rec.Outputs) != 2 || !jsontest.Equal(rec.Outputs[[2]int{0, 0}], `{"a":1}`) || string(rec.Outputs[[2]int{0, 1}]) != `"b"` {
		t.Errorf("ReadFlow's outputs of the counted steps: %v, want {\"a\":1} and \"b\"", rec.Outputs)
	}
}

func TestFailedFlow(t *testing.T) {
	s, _, _ := store(t)
	ctx := context.Background()
	if err := s.CreateFlow(ctx, "wf", parallel); err != nil {
		t.Fatal(err)
	}
	f := &driver.FailedStep{TaskError: &driver.TaskError{Kind: abi.KindFailed, Message: "no"}, Stage: 0, Index: 1}
	if err := s.EndFlow(ctx, "wf", nil, f); err != nil {
		t.Fatal(err)
	}
	if done, err := s.StepDone(ctx, driver.FlowRef{ID: "wf", Stage: 0, Index: 0}, json.RawMessage(`1`)); done != nil || err != nil {
		t.Errorf("a step of a failed workflow: %+v, %v; want nothing", done, err)
	}
	rec, err := s.ReadFlow(ctx, "wf")
	if err != nil || rec.Status != driver.StatusFailed || rec.Failed == nil || rec.Failed.Index != 1 || rec.Failed.Message != "no" {
		t.Errorf("ReadFlow = %+v, %v", rec, err)
	}
}

func TestStoreErrors(t *testing.T) {
	s, rc, _ := store(t)
	ctx := context.Background()
	if _, err := s.ReadFlow(ctx, "nope"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("ReadFlow of an unknown id: %v, want ErrNotFound", err)
	}
	rc.Set(ctx, s.Key("broken"), "not a hash", 0)
	if _, err := s.StepDone(ctx, driver.FlowRef{ID: "broken"}, json.RawMessage(`1`)); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("StepDone on a key of the wrong type: %v, want Redis's WRONGTYPE", err)
	}
}

func TestCancelFlow(t *testing.T) {
	s, _, announced := store(t)
	ctx := context.Background()
	if err := s.CreateFlow(ctx, "wf", parallel); err != nil {
		t.Fatal(err)
	}
	if st, err := s.FlowStatus(ctx, "wf"); err != nil || st != driver.StatusRunning {
		t.Fatalf("FlowStatus of a new workflow: %q, %v; want running", st, err)
	}
	if ok, err := s.CancelFlow(ctx, "wf"); !ok || err != nil {
		t.Fatalf("CancelFlow of a running workflow: %v, %v; want true", ok, err)
	}
	if ok, err := s.CancelFlow(ctx, "wf"); ok || err != nil {
		t.Errorf("CancelFlow again: %v, %v; want false (no longer running)", ok, err)
	}
	if len(*announced) != 1 || (*announced)[0] != "wf" {
		t.Errorf("announced %v, want wf once", *announced)
	}
	// A step that finishes after the cancellation counts nothing, and the
	// runner's EndFlow ends nothing.
	if done, err := s.StepDone(ctx, driver.FlowRef{ID: "wf", Stage: 0, Index: 0}, json.RawMessage(`1`)); done != nil || err != nil {
		t.Errorf("a step of a cancelled workflow: %+v, %v; want nothing", done, err)
	}
	if err := s.EndFlow(ctx, "wf", json.RawMessage(`1`), nil); err != nil {
		t.Fatal(err)
	}
	rec, err := s.ReadFlow(ctx, "wf")
	if err != nil || rec.Status != driver.StatusCancelled || rec.FinishedAt.IsZero() || rec.Output != nil {
		t.Errorf("ReadFlow of a cancelled workflow = %+v, %v; want cancelled, finished, no output", rec, err)
	}
	if st, err := s.FlowStatus(ctx, "wf"); err != nil || st != driver.StatusCancelled {
		t.Errorf("FlowStatus of a cancelled workflow: %q, %v", st, err)
	}
	if ok, err := s.CancelFlow(ctx, "nope"); ok || err != nil {
		t.Errorf("CancelFlow of an unknown workflow: %v, %v; want false", ok, err)
	}
	if _, err := s.FlowStatus(ctx, "nope"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("FlowStatus of an unknown workflow: %v, want ErrNotFound", err)
	}
}
