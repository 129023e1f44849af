package celery

import (
	"context"
	"encoding/json"
	"sync"

	"taskhost.dev/abi"
)

// Progress is stored as Celery's update_state(state="PROGRESS", meta=...)
// stores it: the result backend's state PROGRESS with the progress as its
// result ({"percent", "message", "details"}), which a Python client reads
// as AsyncResult.state and .info; and in this package's record (field
// progress), so that Result still returns the last progress once the
// task is done.

// stateProgress is the custom state of a task that reported progress.
const stateProgress = "PROGRESS"

// progress returns an attempt's Task.Progress, and the func that ends it
// once the attempt returned, so that no progress is stored after the
// attempt's outcome.
func (w *worker) progress(bg context.Context, h *headers, queue string) (report func(abi.Progress), stop func()) {
	b := w.b
	var mu sync.Mutex
	done := false
	report = func(pr abi.Progress) {
		raw, err := json.Marshal(pr)
		if err != nil {
			b.logger.Warn("celery: a task's progress does not encode", "task", h.ID, "err", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		p := b.broker.TxPipeline()
		p.HSet(bg, recordKey(h.ID), "progress", raw)
		if b.results == b.broker && !h.IgnoreResult {
			b.queueMeta(bg, p, h, queue, stateProgress, raw)
		}
		if _, err := p.Exec(bg); err != nil {
			b.logger.Warn("celery: storing a task's progress failed", "task", h.ID, "err", err)
			return
		}
		if b.results != b.broker && !h.IgnoreResult {
			b.storeMeta(bg, b.results, h, queue, stateProgress, raw)
		}
	}
	stop = func() {
		mu.Lock()
		done = true
		mu.Unlock()
	}
	return report, stop
}

// progressOf reads a stored progress: ours, or the meta of a Python
// task's custom state, whose fields other than percent and message are
// kept as the details (all of it when it has neither).
func progressOf(raw []byte) *abi.Progress {
	if len(raw) == 0 {
		return nil
	}
	var p abi.Progress
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return &abi.Progress{Details: json.RawMessage(raw)}
	}
	json.Unmarshal(raw, &p)
	if p.Percent == 0 && p.Message == "" && len(p.Details) == 0 && len(fields) > 0 {
		p.Details = json.RawMessage(raw)
	}
	return &p
}
