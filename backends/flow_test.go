package backends_test

import (
	"context"
	"encoding/json"
	"testing"

	"taskhost.dev/backends"
	"taskhost.dev/backends/driver"
)

// flowDriver is a FlowStore whose one workflow succeeded while the
// engine still reads its last step's task as running: the runner advances
// before the driver records the step's end.
type flowDriver struct{ memDriver }

func (d *flowDriver) Result(_ context.Context, id string) (driver.TaskResult, error) {
	return driver.TaskResult{ID: id, Status: driver.StatusRunning}, nil
}
func (d *flowDriver) CreateFlow(context.Context, string, driver.Workflow) error { return nil }
func (d *flowDriver) EnqueueStage(context.Context, string, int, []*driver.Job) error {
	return nil
}
func (d *flowDriver) StepDone(context.Context, driver.FlowRef, json.RawMessage) (*driver.StageDone, error) {
	return nil, nil
}
func (d *flowDriver) EndFlow(context.Context, string, json.RawMessage, *driver.FailedStep) error {
	return nil
}
func (d *flowDriver) ReadFlow(_ context.Context, id string) (driver.FlowRecord, error) {
	return driver.FlowRecord{Workflow: *driver.NewWorkflow("w").Then("a").Then("b"), Status: driver.StatusSucceeded,
		Output:  json.RawMessage(`2`),
		TaskIDs: map[[2]int]string{{0, 0}: "t0", {1, 0}: "t1"},
		Outputs: map[[2]int]json.RawMessage{{0, 0}: json.RawMessage(`1`), {1, 0}: json.RawMessage(`2`)}}, nil
}

func init() {
	backends.Register("memflow", func(context.Context, driver.Config) (driver.Driver, error) { return &flowDriver{}, nil })
}

// TestWorkflowStepCountedBeforeRecorded: a step the runner counted reads
// as succeeded, with its output, even while the engine has yet to record
// its task's end.
func TestWorkflowStepCountedBeforeRecorded(t *testing.T) {
	c, err := backends.Open(context.Background(), "memflow", backends.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.WorkflowResult(context.Background(), "wf_1")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`1`, `2`} {
		if s := r.Steps[i]; s.Status != backends.StatusSucceeded || string(s.Output) != want || s.TaskID == "" {
			t.Errorf("step %d: %+v (output %s), want succeeded with output %s", i, s, s.Output, want)
		}
	}
}
