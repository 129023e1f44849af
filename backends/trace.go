package backends

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"taskhost.dev/backends/driver"
)

// Tracing: a submission carries its W3C trace context into the engine in
// the job's Meta (every driver carries it), so that the worker's span of
// each attempt is its child. The tracer and propagator are OpenTelemetry's
// globals: with none set (the default), nothing is recorded and Meta stays
// empty.

// TracerName is the instrumentation name of the client's spans.
const TracerName = "taskhost.dev/backends"

// startSubmit starts the producer span of a submission of task.
func startSubmit(ctx context.Context, engine, what, task string) (context.Context, trace.Span) {
	// The provider is read each time: a program (or test) may set it after
	// this package started.
	return otel.GetTracerProvider().Tracer(TracerName).Start(ctx, what+" "+task, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", engine), attribute.String("taskhost.task", task)))
}

func inject(ctx context.Context, j *driver.Job) { driver.InjectTrace(ctx, j) }

// Extract returns ctx with the trace context a task's Meta carries, for a
// worker to start its attempt's span as the submission's child.
func Extract(ctx context.Context, t *Task) context.Context {
	if len(t.Meta) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(t.Meta))
}

// endSpan ends a span, recording err.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func attributeID(id string) attribute.KeyValue { return attribute.String("taskhost.task_id", id) }
