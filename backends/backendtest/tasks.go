package backendtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends"
)

// The suite's tasks, served by a plain Go handler.
var suiteTasks = []backends.TaskSpec{
	{Name: "bt_echo", MaxRetries: 0},
	{Name: "bt_fail", MaxRetries: 3},
	{Name: "bt_flaky", MaxRetries: 2},
	{Name: "bt_sleep", MaxRetries: 0, Timeout: 10 * time.Second},
	{Name: "bt_progress", MaxRetries: 0, Timeout: 30 * time.Second},
	// bt_slow sleeps as bt_sleep does, with retries to spare.
	{Name: "bt_slow", MaxRetries: 3, Timeout: 30 * time.Second},
	// bt_backoff fails twice, then succeeds, waiting 2 s, then 4 s (the
	// one own backoff every engine can express: Hatchet waits 2^n s).
	{Name: "bt_backoff", MaxRetries: 2, Backoff: backends.Backoff{Initial: 2 * time.Second}},
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
	mu         sync.Mutex
	runs       map[string]int         // task id -> attempts run
	start      chan string            // receives the id of every started bt_sleep, if set
	order      chan string            // receives the id of every finished bt_echo, if set
	seq        []string               // the "q" field of each bt_echo input, in the order run
	ended      chan time.Time         // receives the time every bt_sleep returns, if set
	release    chan struct{}          // bt_progress returns once it is closed
	meta       chan map[string]string // receives the Meta of every bt_echo, if set
	noProgress chan struct{}          // closed by bt_progress when the engine stores no progress
	now        int                    // tasks running now
	attempts   map[string][]time.Time // task id -> when each bt_backoff attempt started
	max        int                    // the most tasks that ran at once
}

// peak returns the most tasks that ran at once.
func (h *handler) peak() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.max
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
	h.now++
	h.max = max(h.max, h.now)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.now--
		h.mu.Unlock()
	}()
	switch t.Name {
	case "bt_echo":
		var in struct{ Q string }
		if json.Unmarshal(t.Input, &in) == nil && in.Q != "" {
			h.mu.Lock()
			h.seq = append(h.seq, in.Q)
			h.mu.Unlock()
		}
		if h.order != nil {
			h.order <- t.ID
		}
		if h.meta != nil {
			select {
			case h.meta <- t.Meta:
			default:
			}
		}
		return t.Input, nil
	case "bt_fail":
		return nil, &backends.TaskError{Kind: abi.KindFailed, Message: "failed on purpose", Retryable: false}
	case "bt_backoff":
		h.mu.Lock()
		if h.attempts == nil {
			h.attempts = map[string][]time.Time{}
		}
		h.attempts[t.ID] = append(h.attempts[t.ID], time.Now())
		h.mu.Unlock()
		if t.Attempt < 3 {
			return nil, &backends.TaskError{Kind: abi.KindFailed, Message: fmt.Sprintf("attempt %d fails", t.Attempt), Retryable: true}
		}
		return json.RawMessage(fmt.Sprintf(`{"attempt":%d}`, t.Attempt)), nil
	case "bt_flaky":
		if t.Attempt < 2 {
			return nil, &backends.TaskError{Kind: abi.KindFailed, Message: fmt.Sprintf("attempt %d fails", t.Attempt), Retryable: true}
		}
		return json.RawMessage(fmt.Sprintf(`{"attempt":%d}`, t.Attempt)), nil
	case "bt_progress":
		if t.Progress == nil {
			close(h.noProgress)
			return json.RawMessage(`{}`), nil
		}
		t.Progress(abi.Progress{Percent: 50, Message: "half way"})
		select {
		case <-h.release:
			return json.RawMessage(`{"done":true}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "bt_sleep", "bt_slow":
		var in sleepInput
		if err := json.Unmarshal(t.Input, &in); err != nil {
			return nil, &backends.TaskError{Kind: abi.KindBadInput, Message: err.Error()}
		}
		if h.start != nil {
			select {
			case h.start <- t.ID:
			default:
			}
		}
		if h.ended != nil {
			defer func() {
				select {
				case h.ended <- time.Now():
				default:
				}
			}()
		}
		select {
		case <-time.After(time.Duration(in.MS) * time.Millisecond):
			return json.RawMessage(fmt.Sprintf(`{"slept_ms":%d}`, in.MS)), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, &backends.TaskError{Kind: abi.KindUnknownTask, Message: "no such task: " + t.Name}
}
