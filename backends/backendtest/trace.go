package backendtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"taskhost.dev/backends"
)

// testTracePropagation: a submission made inside a span carries its W3C
// trace context to the worker's attempt (Task.Meta), and the client
// records its producer span in that trace (issue 18).
func testTracePropagation(t *testing.T, engine string, cfg backends.Config) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	e := newEnv(t, engine, cfg)
	h := newHandler()
	h.meta = make(chan map[string]string, 1)
	e.work(h, backends.WorkerOptions{})
	ctx, parent := tp.Tracer("backendtest").Start(context.Background(), "parent")
	id, err := e.b.Submit(ctx, "bt_echo", []byte(`{"traced":true}`))
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	e.wait(id, 30*time.Second)
	var meta map[string]string
	select {
	case meta = <-h.meta:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler saw no attempt")
	}
	traceID := parent.SpanContext().TraceID().String()
	if !strings.Contains(meta["traceparent"], traceID) {
		t.Errorf("the attempt's Meta %v carries no traceparent of trace %s", meta, traceID)
	}
	found := false
	for _, s := range rec.Ended() {
		if s.Name() == "submit bt_echo" && s.SpanContext().TraceID() == parent.SpanContext().TraceID() {
			found = true
		}
	}
	if !found {
		t.Errorf("no producer span \"submit bt_echo\" in trace %s", traceID)
	}
}
