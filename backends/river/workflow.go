package river

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"taskhost.dev/backends/driver"
)

// Workflows on River: a workflow is a row in taskhost_workflow (its
// definition, current stage, and how many steps of that stage are still
// running) and one row per submitted step in taskhost_workflow_step. A
// step is an ordinary job whose args point at its workflow. The worker
// that completes a step does, in the one transaction that completes the
// job: record the step's output, decrement the stage's pending count, and,
// when it reaches zero, insert the next stage's jobs (or finish the
// workflow). So a crash never loses or doubles a step: either all of it
// commits or none of it does, and River retries the job.

var workflowSchema = []string{
	`CREATE TABLE IF NOT EXISTS taskhost_workflow (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		definition TEXT NOT NULL,
		status TEXT NOT NULL,
		stage INTEGER NOT NULL,
		pending INTEGER NOT NULL,
		output TEXT,
		error TEXT,
		created_at TEXT NOT NULL,
		finished_at TEXT
	)`,
	`CREATE TABLE IF NOT EXISTS taskhost_workflow_step (
		workflow_id TEXT NOT NULL,
		stage INTEGER NOT NULL,
		idx INTEGER NOT NULL,
		task TEXT NOT NULL,
		job_id BIGINT NOT NULL,
		output TEXT,
		PRIMARY KEY (workflow_id, stage, idx)
	)`,
}

func migrateWorkflows[TTx any](ctx context.Context, d db[TTx]) error {
	tx, err := d.begin(ctx)
	if err != nil {
		return err
	}
	defer d.rollback(ctx, tx)
	for _, q := range append(append(workflowSchema, scheduleSchema...), heartbeatSchema...) {
		if err := d.exec(ctx, tx, q); err != nil {
			return fmt.Errorf("creating the workflow tables: %w", err)
		}
	}
	return d.commit(ctx, tx)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func newWorkflowID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "wf_" + hex.EncodeToString(b)
}

// SubmitWorkflow implements driver.Workflows.
func (b *backend[TTx]) SubmitWorkflow(ctx context.Context, wf driver.Workflow, input json.RawMessage) (string, error) {
	def, _ := json.Marshal(wf)
	id := newWorkflowID()
	tx, err := b.db.begin(ctx)
	if err != nil {
		return "", fmt.Errorf("river: submit workflow: %w", err)
	}
	defer b.db.rollback(context.WithoutCancel(ctx), tx)
	if err := b.db.exec(ctx, tx, `INSERT INTO taskhost_workflow (id, name, definition, status, stage, pending, created_at)
		VALUES ($1, $2, $3, 'running', 0, $4, $5)`, id, wf.Name, string(def), len(wf.Stages[0].Steps), now()); err != nil {
		return "", fmt.Errorf("river: submit workflow: %w", err)
	}
	if err := b.insertStage(ctx, tx, b.client, &wf, id, 0, input); err != nil {
		return "", fmt.Errorf("river: submit workflow: %w", err)
	}
	return id, b.db.commit(ctx, tx)
}

// insertStage inserts the jobs of one stage, each with its composed input.
func (b *backend[TTx]) insertStage(ctx context.Context, tx TTx, client *river.Client[TTx], wf *driver.Workflow, id string, stage int, value json.RawMessage) error {
	jobs, err := driver.StageJobs(b.tasks, wf, id, stage, value)
	if err != nil {
		return err
	}
	driver.InjectTrace(ctx, jobs...)
	for i, j := range jobs {
		args, opts := insertParams(j)
		res, err := client.InsertTx(ctx, tx, args, opts)
		if err != nil {
			return err
		}
		if err := b.db.exec(ctx, tx, `INSERT INTO taskhost_workflow_step (workflow_id, stage, idx, task, job_id) VALUES ($1, $2, $3, $4, $5)`,
			id, stage, i, j.Task, res.Job.ID); err != nil {
			return err
		}
	}
	return nil
}

// advance records a completed step and, when its stage is done, starts the
// next stage or finishes the workflow; all in tx.
func (b *backend[TTx]) advance(ctx context.Context, tx TTx, ref *driver.FlowRef, out json.RawMessage) error {
	if err := b.db.exec(ctx, tx, `UPDATE taskhost_workflow_step SET output = $1 WHERE workflow_id = $2 AND stage = $3 AND idx = $4`,
		string(out), ref.ID, ref.Stage, ref.Index); err != nil {
		return err
	}
	r, err := b.db.query(ctx, tx, `UPDATE taskhost_workflow SET pending = pending - 1
		WHERE id = $1 AND stage = $2 AND status = 'running' RETURNING pending, definition`, ref.ID, ref.Stage)
	if err != nil {
		return err
	}
	var pending int
	var def string
	found := r.Next()
	if found {
		err = r.Scan(&pending, &def)
	}
	if err == nil {
		err = r.Err()
	}
	r.Close()
	if err != nil || !found || pending > 0 {
		return err // a failed or cancelled workflow, or a stage still running
	}
	var wf driver.Workflow
	if err := json.Unmarshal([]byte(def), &wf); err != nil {
		return err
	}
	outputs, err := b.stageOutputs(ctx, tx, ref.ID, ref.Stage, len(wf.Stages[ref.Stage].Steps))
	if err != nil {
		return err
	}
	value := driver.StageOutput(outputs)
	next := ref.Stage + 1
	if next == len(wf.Stages) {
		if err := b.db.exec(ctx, tx, `UPDATE taskhost_workflow SET status = 'succeeded', output = $1, finished_at = $2 WHERE id = $3`,
			string(value), now(), ref.ID); err != nil {
			return err
		}
		return b.db.notify(ctx, tx, ref.ID)
	}
	if err := b.db.exec(ctx, tx, `UPDATE taskhost_workflow SET stage = $1, pending = $2 WHERE id = $3`,
		next, len(wf.Stages[next].Steps), ref.ID); err != nil {
		return err
	}
	client := river.ClientFromContext[TTx](ctx)
	if client == nil {
		client = b.client
	}
	return b.insertStage(ctx, tx, client, &wf, ref.ID, next, value)
}

func (b *backend[TTx]) stageOutputs(ctx context.Context, tx TTx, id string, stage, n int) ([]json.RawMessage, error) {
	r, err := b.db.query(ctx, tx, `SELECT idx, output FROM taskhost_workflow_step WHERE workflow_id = $1 AND stage = $2 ORDER BY idx`, id, stage)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	outputs := make([]json.RawMessage, n)
	for r.Next() {
		var idx int
		var out sql.NullString
		if err := r.Scan(&idx, &out); err != nil {
			return nil, err
		}
		if idx >= 0 && idx < n {
			outputs[idx] = driver.CompactJSON([]byte(out.String))
		}
	}
	return outputs, r.Err()
}

// failWorkflow marks the workflow failed by a step's final error.
func (b *backend[TTx]) failWorkflow(ctx context.Context, ref *driver.FlowRef, te *driver.TaskError) error {
	tx, err := b.db.begin(ctx)
	if err != nil {
		return err
	}
	defer b.db.rollback(ctx, tx)
	e, _ := json.Marshal(driver.FailedStep{TaskError: te, Stage: ref.Stage, Index: ref.Index})
	if err := b.db.exec(ctx, tx, `UPDATE taskhost_workflow SET status = 'failed', error = $1, finished_at = $2 WHERE id = $3 AND status = 'running'`,
		string(e), now(), ref.ID); err != nil {
		return err
	}
	if err := b.db.notify(ctx, tx, ref.ID); err != nil {
		return err
	}
	return b.db.commit(ctx, tx)
}

// WorkflowResult implements driver.Workflows.
func (b *backend[TTx]) WorkflowResult(ctx context.Context, id string) (driver.WorkflowResult, error) {
	tx, err := b.db.begin(ctx)
	if err != nil {
		return driver.WorkflowResult{}, err
	}
	defer b.db.rollback(ctx, tx)
	r, err := b.db.query(ctx, tx, `SELECT name, definition, status, output, error, created_at, finished_at FROM taskhost_workflow WHERE id = $1`, id)
	if err != nil {
		return driver.WorkflowResult{}, fmt.Errorf("river: reading workflow %s: %w", id, err)
	}
	res := driver.WorkflowResult{ID: id, Engine: Engine}
	var def, status, created string
	var output, errText, finished sql.NullString
	found := r.Next()
	if found {
		err = r.Scan(&res.Workflow, &def, &status, &output, &errText, &created, &finished)
	}
	if err == nil {
		err = r.Err()
	}
	r.Close()
	if err != nil {
		return res, fmt.Errorf("river: reading workflow %s: %w", id, err)
	}
	if !found {
		return res, fmt.Errorf("river: workflow %s: %w", id, driver.ErrNotFound)
	}
	res.Status = driver.Status(status)
	res.EnqueuedAt, _ = time.Parse(time.RFC3339Nano, created)
	if finished.Valid {
		res.FinishedAt, _ = time.Parse(time.RFC3339Nano, finished.String)
	}
	if output.Valid {
		res.Output = driver.CompactJSON([]byte(output.String))
	}
	failed := driver.DecodeFailedStep(errText.String)
	if failed != nil {
		res.Error = failed.TaskError
	}
	var wf driver.Workflow
	if err := json.Unmarshal([]byte(def), &wf); err != nil {
		return res, err
	}
	jobIDs := map[[2]int]int64{}
	sr, err := b.db.query(ctx, tx, `SELECT stage, idx, job_id FROM taskhost_workflow_step WHERE workflow_id = $1`, id)
	if err != nil {
		return res, err
	}
	for sr.Next() {
		var stage, idx int
		var job int64
		if err := sr.Scan(&stage, &idx, &job); err != nil {
			sr.Close()
			return res, err
		}
		jobIDs[[2]int{stage, idx}] = job
	}
	sr.Close()
	b.db.rollback(ctx, tx)
	res.Steps, err = driver.StepResults(wf, res.Status, failed,
		func(stage, index int) (string, bool) {
			job, ok := jobIDs[[2]int{stage, index}]
			return strconv.FormatInt(job, 10), ok
		},
		func(id string) (driver.TaskResult, error) { return b.Result(ctx, id) })
	if err != nil {
		return res, err
	}
	return res, nil
}
