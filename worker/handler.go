package worker

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends"
	"taskhost.dev/host"
)

// Handler returns the handler that runs an engine's tasks in h's sandbox:
// the one place where engines meet WebAssembly. Each attempt runs in a warm
// instance of its task's plugin, with the attempt's id and number;
// progress reports from the plugin are heartbeats to the engine. Its
// errors are *host.TaskError values, which carry their kind and retry
// verdict (backends.Classified).
func Handler(h *host.Host) backends.Handler { return handler{h: h} }

type handler struct {
	h       *host.Host
	metrics *metrics
	logger  *slog.Logger // one line per attempt at info, when set
}

func (w handler) ProcessTask(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
	defer w.metrics.start(t)()
	task, ok := w.h.Task(t.Name)
	if !ok {
		ctx, span := startAttempt(ctx, t, "")
		_, err := w.h.Run(ctx, t.Name, t.Input, host.Invocation{})
		w.metrics.observe(t, "", 0, nil, err)
		w.log(ctx, t, "", 0, err)
		endAttempt(span, err)
		return nil, err
	}
	ctx, span := startAttempt(ctx, t, task.Plugin.Name)
	var stats host.CallStats
	inv := host.Invocation{ID: t.ID, Attempt: t.Attempt, OnProgress: progressFunc(t), Stats: &stats}
	start := time.Now()
	cctx, call := tracer().Start(ctx, "sandbox "+t.Name)
	out, err := task.Run(cctx, t.Input, inv)
	endSpan(call, err)
	d := time.Since(start)
	w.metrics.observe(t, task.Plugin.Name, d, &stats, err)
	w.log(ctx, t, task.Plugin.Name, d, err)
	endAttempt(span, err)
	return out, err
}

// progressEvery bounds how often an attempt's progress is stored.
const progressEvery = 250 * time.Millisecond

// progressFunc passes a plugin's reports on: each a heartbeat, and its
// progress (not a bare heartbeat) stored at most every progressEvery.
func progressFunc(t *backends.Task) func(abi.Progress) {
	var last time.Time
	return func(p abi.Progress) {
		t.Heartbeat()
		if t.Progress == nil || (p.Percent == 0 && p.Message == "" && len(p.Details) == 0) {
			return
		}
		if now := time.Now(); now.Sub(last) >= progressEvery || p.Percent >= 100 {
			last = now
			t.Progress(p)
		}
	}
}

// log writes the attempt's line: task, id, plugin, queue, attempt,
// duration, outcome and, for a failure, its kind and message.
func (w handler) log(ctx context.Context, t *backends.Task, plugin string, d time.Duration, err error) {
	if w.logger == nil || !w.logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{slog.String("task", t.Name), slog.String("id", t.ID), slog.String("plugin", plugin),
		slog.String("queue", t.Queue), slog.Int("attempt", t.Attempt), slog.String("duration", d.Round(time.Microsecond).String())}
	if err == nil {
		w.logger.LogAttrs(ctx, slog.LevelInfo, "task succeeded", attrs...)
		return
	}
	te := backends.ErrorOf(err)
	attrs = append(attrs, slog.String("outcome", "failed"), slog.String("kind", string(te.Kind)), slog.Bool("retryable", te.Retryable), slog.String("error", te.Message))
	w.logger.LogAttrs(ctx, slog.LevelInfo, "task failed", attrs...)
}
