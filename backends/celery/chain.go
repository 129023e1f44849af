package celery

import (
	"encoding/json"
	"fmt"
)

// Celery's canvas, as far as this worker runs it: the rest of a chain and
// link callbacks are sent when a task succeeds; errbacks and chords are
// logged, not run.

// links builds the messages a succeeded task hands its result to: the
// next task of its chain (the rest of the chain with it) and its
// callbacks, each with the result as first arg unless immutable, on the
// queue its signature names, else on the queue the task came from (with
// Celery's default routing, both are the default queue).
func (w *worker) links(h *headers, from string, bd body, out json.RawMessage) ([]outgoing, error) {
	var msgs []outgoing
	build := func(raw json.RawMessage, chain []json.RawMessage) error {
		var s signature
		if err := json.Unmarshal(raw, &s); err != nil || s.Task == "" {
			return fmt.Errorf("a linked signature is not a Celery signature object: %s", clip(string(raw)))
		}
		args := s.Args
		if !s.Immutable {
			args = append([]json.RawMessage{out}, args...)
		}
		queue := s.option("queue")
		if queue == "" {
			queue = from
		}
		var prio int
		if raw, ok := s.Options["priority"]; ok {
			json.Unmarshal(raw, &prio)
		}
		parent := h.ID
		m, err := w.b.newMessage(headers{Task: s.Task, ID: s.option("task_id"), RootID: h.RootID, ParentID: &parent, EnqueuedAt: nowText()},
			queue, prio, body{Args: args, Kwargs: s.Kwargs, Embed: embed{Chain: chain}})
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	}
	if n := len(bd.Embed.Chain); n > 0 {
		if err := build(bd.Embed.Chain[n-1], bd.Embed.Chain[:n-1]); err != nil {
			return nil, err
		}
	}
	for _, cb := range bd.Embed.Callbacks {
		if err := build(cb, nil); err != nil {
			return msgs, err
		}
	}
	if len(bd.Embed.Chord) > 0 && string(bd.Embed.Chord) != "null" {
		w.b.logger.Warn("celery: chords are not run by this worker; the chord body was not called", "task", h.ID)
	}
	return msgs, nil
}
