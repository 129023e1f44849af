package backendtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends"
	"taskhost.dev/internal/jsontest"
)

func (e *env) runWorkflow(wf *backends.Workflow, input string) backends.WorkflowResult {
	e.t.Helper()
	w := e.b
	start := time.Now()
	id, err := w.SubmitWorkflow(context.Background(), *wf, json.RawMessage(input))
	if err != nil {
		e.t.Fatalf("SubmitWorkflow: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		e.t.Errorf("SubmitWorkflow took %s: it must return at once", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := w.WaitWorkflow(ctx, id)
	if err != nil {
		e.t.Fatalf("WaitWorkflow(%s): %v (last seen %+v)", id, err, r)
	}
	if r.ID != id || r.Workflow != wf.Name || r.Engine != e.engine {
		e.t.Errorf("result %+v: want id %s, workflow %s, engine %s", r, id, wf.Name, e.engine)
	}
	return r
}

// declare declares the test's workflows before its worker starts, for the
// engines that need it (backends.WorkflowDeclarer).
func (e *env) declare(wfs ...*backends.Workflow) {
	e.t.Helper()
	for _, wf := range wfs {
		if err := e.b.DeclareWorkflows(context.Background(), *wf); err != nil {
			e.t.Fatalf("DeclareWorkflows(%s): %v", wf.Name, err)
		}
	}
}

func testSequentialWorkflow(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	wf := backends.NewWorkflow("bt_seq").Then("bt_echo", `{"step":1}`).Then("bt_flaky").Then("bt_echo", `{"step":3}`)
	e.declare(wf)
	e.work(newHandler(), backends.WorkerOptions{})
	r := e.runWorkflow(wf, `{"x":1}`)
	if r.Status != backends.StatusSucceeded || len(r.Steps) != 3 {
		t.Fatalf("workflow %+v, want succeeded with 3 steps", r)
	}
	// bt_flaky ignores its input and answers {"attempt":2}; the third step
	// adds its params to that.
	if !jsontest.Equal(r.Steps[0].Output, `{"x":1,"step":1}`) || !jsontest.Equal(r.Output, `{"attempt":2,"step":3}`) {
		t.Errorf("outputs %s, %s; want {\"x\":1,\"step\":1} then {\"attempt\":2,\"step\":3}", r.Steps[0].Output, r.Output)
	}
	for _, s := range r.Steps {
		if s.Status != backends.StatusSucceeded || s.TaskID == "" {
			t.Errorf("step %+v, want succeeded with a task id", s)
		}
	}
}

func testParallelWorkflow(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	wf := backends.NewWorkflow("bt_par").
		Then("bt_echo").
		Parallel(
			backends.Step{Task: "bt_sleep", Params: json.RawMessage(`{"ms":300}`)},
			backends.Step{Task: "bt_echo", Params: json.RawMessage(`{"p":2}`)},
			backends.Step{Task: "bt_echo", Params: json.RawMessage(`{"p":3}`)},
		).
		Then("bt_echo", `{"joined":true}`)
	e.declare(wf)
	e.work(newHandler(), backends.WorkerOptions{Concurrency: 4})
	r := e.runWorkflow(wf, `{"x":1}`)
	if r.Status != backends.StatusSucceeded || len(r.Steps) != 5 {
		t.Fatalf("workflow %+v, want succeeded with 5 steps", r)
	}
	// The group's outputs, in step order, reach the last step as an array,
	// wrapped in {"input": ...} because it has params.
	want := `{"input":[{"slept_ms":300},{"x":1,"p":2},{"x":1,"p":3}],"joined":true}`
	if !jsontest.Equal(r.Output, want) {
		t.Errorf("output %s, want %s", r.Output, want)
	}
}

func testFailedWorkflow(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	wf := backends.NewWorkflow("bt_fail").Then("bt_echo").Then("bt_fail").Then("bt_echo")
	e.declare(wf)
	e.work(newHandler(), backends.WorkerOptions{})
	r := e.runWorkflow(wf, `{}`)
	if r.Status != backends.StatusFailed || r.Error == nil || r.Error.Kind != abi.KindFailed {
		t.Fatalf("workflow %+v (error %+v), want failed by its second step", r, r.Error)
	}
	want := []backends.Status{backends.StatusSucceeded, backends.StatusFailed, backends.StatusCancelled}
	for i, s := range r.Steps {
		if s.Status != want[i] {
			t.Errorf("step %d: %s, want %s", i, s.Status, want[i])
		}
	}
	if _, err := e.b.SubmitWorkflow(context.Background(), *backends.NewWorkflow("bt_unknown").Then("bt_nope"), json.RawMessage(`{}`)); err == nil {
		t.Error("a workflow naming an unknown task was accepted")
	}
	if _, err := e.b.WorkflowResult(context.Background(), "wf_no_such"); err == nil {
		t.Error("WorkflowResult of an unknown id succeeded")
	}
}
