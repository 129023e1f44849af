package redisflow_test

import (
	"context"
	"encoding/json"
	"testing"

	"taskhost.dev/backends/driver"
)

// TestCancelFlow: a running workflow is cancelled once, its waiters are
// told, and its steps are counted no more.
func TestCancelFlow(t *testing.T) {
	s, _, announced := store(t)
	ctx := context.Background()
	if err := s.CreateFlow(ctx, "wf", parallel); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CancelFlow(ctx, "wf"); !ok || err != nil {
		t.Fatalf("CancelFlow of a running workflow = %v, %v; want true", ok, err)
	}
	if ok, err := s.CancelFlow(ctx, "wf"); ok || err != nil {
		t.Errorf("a second CancelFlow = %v, %v; want false (no longer running)", ok, err)
	}
	if len(*announced) != 1 {
		t.Errorf("announced %v, want wf once", *announced)
	}
	if done, err := s.StepDone(ctx, driver.FlowRef{ID: "wf", Stage: 0, Index: 0}, json.RawMessage(`1`)); done != nil || err != nil {
		t.Errorf("a step of a cancelled workflow: %+v, %v; want nothing counted", done, err)
	}
	rec, err := s.ReadFlow(ctx, "wf")
	if err != nil || rec.Status != driver.StatusCancelled || rec.FinishedAt.IsZero() || len(rec.Outputs) != 0 {
		t.Errorf("ReadFlow of a cancelled workflow = %+v, %v", rec, err)
	}
	if ok, err := s.CancelFlow(ctx, "nope"); ok || err != nil {
		t.Errorf("CancelFlow of an unknown workflow = %v, %v; want false", ok, err)
	}
}
