package backendtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"taskhost.dev/backends"
)

// The suite's tasks, served by a plain Go handler.
var suiteTasks = []backends.TaskSpec{
	{Name: "bt_echo", MaxRetries: 0},
	{Name: "bt_fail", MaxRetries: 3},
	{Name: "bt_flaky", MaxRetries: 2},
	{Name: "bt_sleep", MaxRetries: 0, Timeout: 10 * time.Second},
}

// taskSpecs returns the suite's tasks on queue q.
func taskSpecs(q string) []backends.TaskSpec {
	out := make([]backends.TaskSpec, len(suiteTasks))
	for i, t := range suiteTasks {
		t.Queue = q
		out[i] = t
	}
	return out
}

// handler runs the suite's tasks and counts executions per task id.
type handler struct {
	mu    sync.Mutex
	runs  map[string]int // task id -> attempts run
	start chan string    // receives the id of every started bt_sleep, if set
}

func newHandler() *handler { return &handler{runs: map[string]int{}} }

func (h *handler) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runs[id]
}

type sleepInput struct {
	MS int `json:"ms"`
}

func (h *handler) ProcessTask(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
	h.mu.Lock()
	h.runs[t.ID]++
	h.mu.Unlock()
	switch t.Name {
	case "bt_echo":
		return t.Input, nil
	case "bt_fail":
		return nil, &backends.TaskError{Kind: "failed", Message: "failed on purpose", Retryable: false}
	case "bt_flaky":
		if t.Attempt < 2 {
			return nil, &backends.TaskError{Kind: "failed", Message: fmt.Sprintf("attempt %d fails", t.Attempt), Retryable: true}
		}
		return json.RawMessage(fmt.Sprintf(`{"attempt":%d}`, t.Attempt)), nil
	case "bt_sleep":
		var in sleepInput
		if err := json.Unmarshal(t.Input, &in); err != nil {
			return nil, &backends.TaskError{Kind: "bad_input", Message: err.Error()}
		}
		if h.start != nil {
			select {
			case h.start <- t.ID:
			default:
			}
		}
		select {
		case <-time.After(time.Duration(in.MS) * time.Millisecond):
			return json.RawMessage(fmt.Sprintf(`{"slept_ms":%d}`, in.MS)), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, &backends.TaskError{Kind: "unknown_task", Message: "no such task: " + t.Name}
}
