package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// tracingWanted says whether the environment asks for traces, as
// OpenTelemetry's own variables do: OTEL_EXPORTER_OTLP_ENDPOINT (or its
// traces variant) or OTEL_TRACES_EXPORTER other than none. Off otherwise.
func tracingWanted() bool {
	if e := os.Getenv("OTEL_TRACES_EXPORTER"); e != "" {
		return !strings.EqualFold(e, "none")
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// startTracing sets OpenTelemetry's global tracer provider and W3C
// propagators from the standard OTEL_* variables when they ask for traces,
// and returns the function that flushes and stops it, and an HTTP client
// whose requests (a plugin's, through allowed_hosts) are child spans that
// send traceparent on. Without them it does nothing and returns nil.
func startTracing(ctx context.Context) (stop func(), client *http.Client, err error) {
	if !tracingWanted() {
		return func() {}, nil, nil
	}
	if os.Getenv("OTEL_TRACES_EXPORTER") == "" {
		os.Setenv("OTEL_TRACES_EXPORTER", "otlp") // the endpoint is set: OTLP it is
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, nil, errors.New("OpenTelemetry: " + err.Error() + " (check OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_*)")
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(serviceName())))
	if err != nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tp.Shutdown(sctx)
	}
	return stop, &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport)}, nil
}

// serviceName is OTEL_SERVICE_NAME, else "taskhost".
func serviceName() string {
	if n := os.Getenv("OTEL_SERVICE_NAME"); n != "" {
		return n
	}
	return "taskhost"
}
