package hatchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"

	"taskhost.dev/backends"
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
	Input      json.RawMessage   `json:"input"`
	Definition backends.Workflow `json:"definition"`
}

func dagName(wf string) string { return hatchetName("taskhost.wf." + wf) }

func stepName(stage, index int) string { return fmt.Sprintf("s%d_%d", stage, index) }

// DeclareWorkflows implements backends.WorkflowDeclarer: a worker started
// after it registers each workflow's DAG, and a running worker of this
// process registers again to add them.
func (b *backend) DeclareWorkflows(wfs ...backends.Workflow) error {
	for _, wf := range wfs {
		if err := backends.CheckWorkflow(wf, json.RawMessage("{}"), func(t string) error { _, err := b.spec(t); return err }); err != nil {
			return fmt.Errorf("hatchet: declaring workflow %q: %w", wf.Name, err)
		}
		b.mu.Lock()
		b.flows[wf.Name] = wf
		b.mu.Unlock()
	}
	return b.restartWorkers()
}

// dagWorkflows builds the declared workflows' DAGs, their steps run by w.
func (b *backend) dagWorkflows(w *worker) ([]hatchet.WorkflowBase, error) {
	b.mu.Lock()
	flows := make([]backends.Workflow, 0, len(b.flows))
	for _, wf := range b.flows {
		flows = append(flows, wf)
	}
	b.mu.Unlock()
	var out []hatchet.WorkflowBase
	for _, wf := range flows {
		dag, err := b.buildDAG(wf, w)
		if err != nil {
			return nil, err
		}
		out = append(out, dag)
	}
	return out, nil
}

// buildDAG builds a workflow's DAG, its steps run by w (nil on a client,
// which only puts the DAG to the engine).
func (b *backend) buildDAG(wf backends.Workflow, w *worker) (*hatchet.Workflow, error) {
	dag := b.c.NewWorkflow(dagName(wf.Name), hatchet.WithWorkflowDescription("taskhost workflow "+wf.Name))
	var prev []*hatchet.Task
	for i, st := range wf.Stages {
		var cur []*hatchet.Task
		for j, step := range st.Steps {
			spec, err := b.spec(step.Task)
			if err != nil {
				return nil, fmt.Errorf("hatchet: workflow %q: %w", wf.Name, err)
			}
			opts := []hatchet.TaskOption{hatchet.WithRetries(spec.MaxRetries), hatchet.WithRetryBackoff(2, 60), hatchet.WithScheduleTimeout(scheduleTimeout)}
			if spec.Timeout > 0 {
				opts = append(opts, hatchet.WithExecutionTimeout(spec.Timeout))
			}
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
func (b *backend) putDAG(wf backends.Workflow) error {
	def, _ := json.Marshal(normalize(wf))
	return b.putOnce("dag:"+string(def), dagName(wf.Name), func() (hatchet.WorkflowBase, error) {
		return b.buildDAG(wf, nil)
	})
}

// stepFn runs one step of a DAG: its input is the workflow's input (first
// stage) or its parents' outputs, by the workflow input rule.
func (w *worker) stepFn(spec backends.TaskSpec, step backends.Step, stage int, parents []*hatchet.Task) func(hctx hatchet.Context, in wfInput) (output, error) {
	return func(hctx hatchet.Context, in wfInput) (output, error) {
		w.running.Add(1)
		defer w.running.Done()
		ctx, cancel := context.WithCancel(hctx)
		defer cancel()
		stopAfter := context.AfterFunc(w.runCtx, cancel)
		defer stopAfter()
		value := in.Input
		if stage > 0 {
			outs := make([]json.RawMessage, len(parents))
			for i, p := range parents {
				var o output
				if err := hctx.ParentOutput(p, &o); err != nil {
					return output{}, w.failure(fmt.Errorf("reading the output of step %s: %w", p.GetName(), err), attemptInfo{}, true)
				}
				outs[i] = o.Output
			}
			value = backends.StageOutput(outs)
		}
		input, err := backends.StepInput(value, step.Params)
		if err != nil {
			return output{}, w.failure(&backends.TaskError{Kind: "bad_input", Message: err.Error()}, attemptInfo{}, true)
		}
		info := attemptInfo{Attempt: hctx.RetryCount() + 1, StartedAt: time.Now().UTC()}
		out, err := w.h.ProcessTask(ctx, &backends.Task{ID: hctx.StepRunId(), Name: step.Task, Input: input, Attempt: info.Attempt, Heartbeat: w.heartbeat(hctx, spec.Timeout)})
		info.FinishedAt = time.Now().UTC()
		if err != nil {
			return output{}, w.failure(err, info, info.Attempt > spec.MaxRetries)
		}
		if len(out) == 0 {
			out = []byte("null")
		}
		return output{Output: out, attemptInfo: info}, nil
	}
}

// SubmitWorkflow implements backends.Workflows: it puts the workflow's
// DAG to the engine (once per process and definition: the engine drops,
// without a word, a run of a workflow it does not know) and runs it; the
// run waits for a worker that declared the workflow.
func (b *backend) SubmitWorkflow(ctx context.Context, wf backends.Workflow, input json.RawMessage) (string, error) {
	if err := backends.CheckWorkflow(wf, input, func(t string) error { _, err := b.spec(t); return err }); err != nil {
		return "", fmt.Errorf("hatchet: %w", err)
	}
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
		b.submitted(ref.RunId, &wf)
	}
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "not found") {
			return "", fmt.Errorf("hatchet: workflow %q is not known to the engine: a worker declares it when it starts ([[workflow]] in the manifest; backends.DeclareWorkflows before Work): %w", wf.Name, err)
		}
		return "", fmt.Errorf("hatchet: submit workflow %q: %w", wf.Name, err)
	}
	return ref.RunId, nil
}

// normalize makes two definitions comparable (empty params as nil).
func normalize(wf backends.Workflow) backends.Workflow {
	b, _ := json.Marshal(wf)
	var out backends.Workflow
	json.Unmarshal(b, &out)
	for i := range out.Stages {
		for j := range out.Stages[i].Steps {
			if p := out.Stages[i].Steps[j].Params; len(p) > 0 {
				out.Stages[i].Steps[j].Params = backends.CompactJSON(p)
			}
		}
	}
	return out
}

// WorkflowResult implements backends.Workflows. The run, its input (with
// the definition) and its steps come over gRPC, current at once; the
// times from the REST API, when it has them.
func (b *backend) WorkflowResult(ctx context.Context, id string) (backends.WorkflowResult, error) {
	res := backends.WorkflowResult{ID: id, Engine: Engine}
	details, err := b.details(ctx, id)
	if errors.Is(err, backends.ErrNotFound) {
		if wf := b.recentFlow(id); wf != nil { // submitted here, not recorded yet
			res.Workflow, res.Status = wf.Name, backends.StatusPending
			for i, st := range wf.Stages {
				for j, s := range st.Steps {
					res.Steps = append(res.Steps, backends.StepResult{Stage: i, Index: j, Task: s.Task, Status: backends.StatusPending})
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
		return res, fmt.Errorf("hatchet: run %s is not a taskhost workflow: %w", id, backends.ErrNotFound)
	}
	wf := in.Definition
	res.Workflow = wf.Name
	res.Status = statusOf(details.Status, nil)
	if !details.Done && res.Status.Done() {
		res.Status = backends.StatusRunning
	}
	if res.Status == backends.StatusPending && len(details.TaskRuns) > 0 {
		res.Status = backends.StatusRunning
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
			step := backends.StepResult{Stage: i, Index: j, Task: s.Task, Status: backends.StatusPending}
			if t, ok := details.TaskRuns[stepName(i, j)]; ok {
				step.TaskID = t.ExternalId.String()
				step.Status = statusOf(t.Status, nil)
				if t.Status == rest.V1TaskStatusRUNNING {
					step.Status = backends.StatusRunning
				}
				switch step.Status {
				case backends.StatusSucceeded:
					var o output
					if err := json.Unmarshal(t.Output, &o); err == nil {
						step.Output = backends.CompactJSON(o.Output)
					}
				case backends.StatusFailed, backends.StatusCancelled:
					if t.Error != nil && *t.Error != "" {
						step.Error, _ = decodeError(*t.Error)
					}
				}
			}
			if res.Status.Done() && !step.Status.Done() {
				step.Status = backends.StatusCancelled
			}
			if step.Status == backends.StatusFailed && res.Error == nil {
				res.Error = step.Error
				if res.Error == nil {
					res.Error = &backends.TaskError{Kind: "failed", Message: "step " + stepName(i, j) + " failed", Retryable: true}
				}
			}
			last = append(last, step.Output)
			res.Steps = append(res.Steps, step)
		}
	}
	if res.Status == backends.StatusSucceeded {
		res.Output = backends.StageOutput(last)
	}
	return res, nil
}

// WaitWorkflow implements backends.Workflows, polling as Wait does.
func (b *backend) WaitWorkflow(ctx context.Context, id string) (backends.WorkflowResult, error) {
	start := time.Now()
	return backends.WaitDone(ctx, func(ctx context.Context) (backends.WorkflowResult, backends.Status, error) {
		r, err := b.WorkflowResult(ctx, id)
		if unrecorded(err, id, start) {
			return r, backends.StatusPending, nil // not recorded yet
		}
		return r, r.Status, err
	}, poller())
}
