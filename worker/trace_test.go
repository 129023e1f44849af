package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"taskhost.dev/backends"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
	"taskhost.dev/worker"
)

// TestTraces: an attempt's span is the submission's child, the sandbox call
// the attempt's, with the attempt's attributes; its log line carries the
// trace id.
func TestTraces(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{PluginsDir: testplugins.Core(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	c, err := backends.Open(ctx, "river", backends.Config{URL: filepath.Join(t.TempDir(), "t.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var logs syncBuf
	logger := slog.New(worker.TraceLogs(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	w, err := worker.New(worker.Config{Host: h, Client: c, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	<-w.Ready()
	sctx, parent := tp.Tracer("test").Start(ctx, "parent")
	id, err := c.Submit(sctx, "fail", json.RawMessage(`{"message":"traced"}`))
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	wc, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.Wait(wc, id); err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	tid := parent.SpanContext().TraceID()
	var attempt, call sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() != tid {
			continue
		}
		switch s.Name() {
		case "fail":
			attempt = s
		case "sandbox fail":
			call = s
		}
	}
	if attempt == nil || call == nil {
		t.Fatalf("spans of trace %s: attempt %v, sandbox call %v; want both", tid, attempt, call)
	}
	if call.Parent().SpanID() != attempt.SpanContext().SpanID() {
		t.Errorf("the sandbox call's parent is %s, want the attempt %s", call.Parent().SpanID(), attempt.SpanContext().SpanID())
	}
	attrs := map[string]string{}
	for _, a := range attempt.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	for k, v := range map[string]string{"taskhost.task": "fail", "taskhost.task_id": id, "taskhost.plugin": "system_tasks",
		"taskhost.attempt": "1", "taskhost.outcome": "failed", "taskhost.error.kind": "failed"} {
		if attrs[k] != v {
			t.Errorf("attempt span attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+tid.String()+`"`) {
		t.Errorf("no log line carries trace %s:\n%s", tid, logs.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
