package hatchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// A workflow is a Hatchet DAG: workflow "taskhost.wf.NAME", one task per
// step named sSTAGE_INDEX, each with every step of the previous stage as
// its parents. Hatchet registers a DAG's steps with the workers that run
// them when they start, and a started worker takes no new ones
// (hatchet-dev/hatchet#1353), so workflows are declared (DeclareWorkflows)
// before Work.

// wfInput is a DAG run's input: the workflow's input and its definition,
// which WorkflowResult reads back.
type wfInput struct {
	Input      json.RawMessage `json:"input"`
	Definition driver.Workflow `json:"definition"`
}

func dagName(wf string) string { return hatchetName("taskhost.wf." + wf) }

func stepName(stage, index int) string { return fmt.Sprintf("s%d_%d", stage, index) }

// DeclareWorkflows implements driver.WorkflowDeclarer: a worker started
// after it registers each workflow's DAG, and a running worker of this
// process registers again to add them (see TasksChanged).
func (b *backend) DeclareWorkflows(ctx context.Context, wfs ...driver.Workflow) error {
	b.mu.Lock()
	for _, wf := range wfs {
		b.flows[wf.Name] = wf
	}
	b.mu.Unlock()
	return b.TasksChanged(ctx)
}

// buildDAG builds a workflow's DAG, its steps run by w (nil on a client,
// which only puts the DAG to the engine).
func (b *backend) buildDAG(wf driver.Workflow, w *worker) (*hatchet.Workflow, error) {
	dag := b.c.NewWorkflow(dagName(wf.Name), hatchet.WithWorkflowDescription("taskhost workflow "+wf.Name))
	var prev []*hatchet.Task
	for i, st := range wf.Stages {
		var cur []*hatchet.Task
		for j, step := range st.Steps {
			spec, err := b.tasks.Spec(step.Task)
			if err != nil {
				return nil, fmt.Errorf("hatchet: workflow %q: %w", wf.Name, err)
			}
			retry, err := retryOptions(spec)
			if err != nil {
				return nil, fmt.Errorf("hatchet: workflow %q: %w", wf.Name, err)
			}
			opts := append(retry, hatchet.WithExecutionTimeout(spec.Timeout))
			if len(prev) > 0 {
				opts = append(opts, hatchet.WithParents(prev...))
			}
			fn := func(hatchet.Context, wfInput) (output, error) {
				return output{}, errors.New("a client's declaration ran")
			}
			if w != nil {
				fn = w.stepFn(spec, step, i, prev)
			}
			cur = append(cur, dag.NewTask(stepName(i, j), fn, opts...))
		}
		prev = cur
	}
	return dag, nil
}

// putDAG puts a workflow's DAG to the engine from a client, once per
// process and definition: the engine drops a run of a workflow it does
// not know, and a worker that declared it may not have registered it yet.
func (b *backend) putDAG(wf driver.Workflow) error {
	def, _ := json.Marshal(normalize(wf))
	return b.putOnce("dag:"+string(def), dagName(wf.Name), func() (hatchet.WorkflowBase, error) {
		return b.buildDAG(wf, nil)
	})
}

// SubmitWorkflow implements driver.Workflows: it puts the workflow's
// DAG to the engine (once per process and definition: the engine drops,
// without a word, a run of a workflow it does not know) and runs it; the
// run waits for a worker that declared the workflow.
func (b *backend) SubmitWorkflow(ctx context.Context, wf driver.Workflow, input json.RawMessage) (string, error) {
	b.mu.Lock()
	declared, ok := b.flows[wf.Name]
	b.mu.Unlock()
	if ok && !reflect.DeepEqual(normalize(declared), normalize(wf)) {
		return "", fmt.Errorf("hatchet: workflow %q differs from the one declared to this process's workers; Hatchet runs the declared DAG, so restart the workers with the new definition", wf.Name)
	}
	if err := b.putDAG(wf); err != nil {
		return "", fmt.Errorf("hatchet: submit workflow %q: %w", wf.Name, err)
	}
	ref, err := b.c.RunNoWait(ctx, dagName(wf.Name), wfInput{Input: input, Definition: wf})
	if err == nil {
		b.recent.note(ref.RunId, &wf)
	}
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "not found") {
			return "", fmt.Errorf("hatchet: workflow %q is not known to the engine: a worker declares it when it starts ([[workflow]] in the manifest; driver.DeclareWorkflows before Work): %w", wf.Name, err)
		}
		return "", fmt.Errorf("hatchet: submit workflow %q: %w", wf.Name, err)
	}
	return ref.RunId, nil
}

// normalize makes two definitions comparable (empty params as nil).
func normalize(wf driver.Workflow) driver.Workflow {
	b, _ := json.Marshal(wf)
	var out driver.Workflow
	json.Unmarshal(b, &out)
	for i := range out.Stages {
		for j := range out.Stages[i].Steps {
			if p := out.Stages[i].Steps[j].Params; len(p) > 0 {
				out.Stages[i].Steps[j].Params = driver.CompactJSON(p)
			}
		}
	}
	return out
}

// WorkflowResult implements driver.Workflows. The run, its input (with
// the definition) and its steps come over gRPC, current at once; the
// times from the REST API, when it has them.
func (b *backend) WorkflowResult(ctx context.Context, id string) (driver.WorkflowResult, error) {
	res := driver.WorkflowResult{ID: id, Engine: Engine}
	details, err := b.details(ctx, id)
	if errors.Is(err, driver.ErrNotFound) {
		if wf, ok := b.recent.lookup(id); ok && wf != nil { // submitted here, not recorded yet
			res.Workflow, res.Status = wf.Name, driver.StatusPending
			for i, st := range wf.Stages {
				for j, s := range st.Steps {
					res.Steps = append(res.Steps, driver.StepResult{Stage: i, Index: j, Task: s.Task, Status: driver.StatusPending})
				}
			}
			return res, nil
		}
	}
	if err != nil {
		return res, fmt.Errorf("hatchet: workflow %s: %w", id, err)
	}
	var in wfInput
	if err := json.Unmarshal(details.Input, &in); err != nil || len(in.Definition.Stages) == 0 {
		return res, fmt.Errorf("hatchet: run %s is not a taskhost workflow: %w", id, driver.ErrNotFound)
	}
	wf := in.Definition
	res.Workflow = wf.Name
	res.Status = statusOf(details.Status, nil)
	if !details.Done && res.Status.Done() {
		res.Status = driver.StatusRunning
	}
	if res.Status == driver.StatusPending && len(details.TaskRuns) > 0 {
		res.Status = driver.StatusRunning
	}
	if run, err := b.c.Runs().Get(ctx, id); err == nil {
		if run.Run.CreatedAt != nil {
			res.EnqueuedAt = *run.Run.CreatedAt
		}
		if run.Run.FinishedAt != nil && res.Status.Done() {
			res.FinishedAt = *run.Run.FinishedAt
		}
	}
	var last []json.RawMessage
	for i, st := range wf.Stages {
		last = last[:0]
		for j, s := range st.Steps {
			step := driver.StepResult{Stage: i, Index: j, Task: s.Task, Status: driver.StatusPending}
			if t, ok := details.TaskRuns[stepName(i, j)]; ok {
				step.TaskID = t.ExternalId.String()
				step.Status = statusOf(t.Status, nil)
				if t.Status == rest.V1TaskStatusRUNNING {
					step.Status = driver.StatusRunning
				}
				switch step.Status {
				case driver.StatusSucceeded:
					var o output
					if err := json.Unmarshal(t.Output, &o); err == nil {
						step.Output = driver.CompactJSON(o.Output)
					}
				case driver.StatusFailed, driver.StatusCancelled:
					if t.Error != nil && *t.Error != "" {
						step.Error, _ = decodeError(*t.Error)
					}
				}
			}
			if res.Status.Done() && !step.Status.Done() {
				step.Status = driver.StatusCancelled
			}
			if step.Status == driver.StatusFailed && res.Error == nil {
				res.Error = step.Error
				if res.Error == nil {
					res.Error = &driver.TaskError{Kind: abi.KindFailed, Message: "step " + stepName(i, j) + " failed", Retryable: true}
				}
			}
			last = append(last, step.Output)
			res.Steps = append(res.Steps, step)
		}
	}
	if res.Status == driver.StatusSucceeded {
		res.Output = driver.StageOutput(last)
	}
	return res, nil
}
