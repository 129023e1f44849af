package worker

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"taskhost.dev/backends"
)

// TracerName is the instrumentation name of the worker's spans: one per
// attempt (a child of the submission's, which the engine carried in the
// task's Meta), with the sandbox call a child of it. The tracer provider is
// OpenTelemetry's global one: unset, nothing is recorded.
const TracerName = "taskhost.dev/worker"

func tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(TracerName) }

// startAttempt starts an attempt's span, the submission's child.
func startAttempt(ctx context.Context, t *backends.Task, plugin string) (context.Context, trace.Span) {
	ctx = backends.Extract(ctx, t)
	return tracer().Start(ctx, t.Name, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("taskhost.task", t.Name), attribute.String("taskhost.task_id", t.ID),
		attribute.String("taskhost.plugin", plugin), attribute.String("taskhost.queue", t.Queue),
		attribute.Int("taskhost.attempt", t.Attempt)))
}

// endAttempt records the attempt's outcome on its span and ends it.
func endAttempt(span trace.Span, err error) {
	if err == nil {
		span.SetAttributes(attribute.String("taskhost.outcome", "succeeded"))
	} else {
		te := backends.ErrorOf(err)
		span.SetAttributes(attribute.String("taskhost.outcome", "failed"), attribute.String("taskhost.error.kind", string(te.Kind)),
			attribute.Bool("taskhost.error.retryable", te.Retryable))
		span.RecordError(err)
		span.SetStatus(codes.Error, te.Message)
	}
	span.End()
}

// TraceLogs wraps a log handler so that every line logged with a context
// holding a span carries its trace_id and span_id: an attempt's lines, the
// plugin's among them, are found by its trace.
func TraceLogs(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(a)}
}
func (h traceHandler) WithGroup(n string) slog.Handler { return traceHandler{h.Handler.WithGroup(n)} }

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
