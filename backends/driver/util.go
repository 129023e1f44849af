package driver

import (
	"context"

	"fmt"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

// CheckOptions returns an error naming any option in opts that is not one
// of known, so that a misspelt setting is not silently ignored.
func CheckOptions(engine string, opts map[string]string, known ...string) error {
	var bad []string
	for k := range opts {
		if !slices.Contains(known, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	kn := "none"
	if len(known) > 0 {
		kn = strings.Join(known, ", ")
	}
	return fmt.Errorf("%s: unknown option %s (this engine knows: %s)", engine, strings.Join(bad, ", "), kn)
}

// The retry backoff every driver applies, natively where its engine can
// (RetryBackoffFactor and RetryMaxDelay are the native settings) and with
// RetryDelay where the driver computes it: 1 s, 2 s, 4 s, ... up to
// RetryMaxDelay.
const (
	RetryInitialDelay  = time.Second
	RetryBackoffFactor = 2
	RetryMaxDelay      = 10 * time.Minute
)

// RetryDelay is the default backoff's wait before retry n+1 (n counts the
// retries done so far, from 0).
func RetryDelay(n int) time.Duration { return Backoff{}.Delay(n) }

// Backoff is a task's retry backoff, the one formula every driver applies
// (natively where its engine can): the wait before retry n+1 is
// Initial·2^n (exponential, the default) or Initial (Fixed), at most Max,
// plus up to Jitter of it at random. Zero fields are the defaults
// (RetryInitialDelay, RetryMaxDelay, no jitter).
type Backoff struct {
	Initial time.Duration `json:"initial,omitempty"`
	Max     time.Duration `json:"max,omitempty"`
	Fixed   bool          `json:"fixed,omitempty"`
	// Jitter is a fraction from 0 to 1.
	Jitter float64 `json:"jitter,omitempty"`
}

// WithDefaults returns b with zero fields set to the defaults.
func (b Backoff) WithDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = RetryInitialDelay
	}
	if b.Max <= 0 {
		b.Max = max(RetryMaxDelay, b.Initial)
	}
	return b
}

// Custom returns b, or nil when it is the defaults: what a driver carries
// with a job whose task sets its own backoff.
func (b Backoff) Custom() *Backoff {
	if b.WithDefaults() == (Backoff{}).WithDefaults() {
		return nil
	}
	return &b
}

// Delay is the wait before retry n+1 (n counts the retries done so far).
func (b Backoff) Delay(n int) time.Duration {
	b = b.WithDefaults()
	d := float64(b.Initial)
	if !b.Fixed {
		d *= math.Pow(RetryBackoffFactor, float64(max(n, 0)))
	}
	d = min(d, float64(b.Max))
	if b.Jitter > 0 {
		d += d * b.Jitter * rand.Float64()
	}
	return time.Duration(d)
}

// Pause is the wait between two reads of a waiter: it returns after d, at
// a notice on notice (true; a nil channel never has one), or with ctx's
// error.
func Pause(ctx context.Context, d time.Duration, notice <-chan struct{}) (noticed bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-notice:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Persist runs write, an engine write of what a worker must not lose (a
// finished attempt's outcome, a workflow's next stage), until it succeeds:
// with backoff from 20 ms doubling to 1 s, for at most budget, ctx's
// cancellation aside. A transient fault of the engine (a stalled Redis, a
// dropped database connection) so does not turn a run that happened into a
// failed attempt. It returns the last error when the budget is spent.
func Persist(ctx context.Context, budget time.Duration, write func(context.Context) error) error {
	ctx = context.WithoutCancel(ctx)
	deadline := time.Now().Add(budget)
	wait := 20 * time.Millisecond
	for {
		err := write(ctx)
		if err == nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

// InjectTrace writes ctx's W3C trace context (OpenTelemetry's global
// propagator) into each job's Meta, so that its attempts' spans are ctx's
// span's children; without a span in ctx it does nothing. The client does
// it for submissions; a driver with native workflows does it for the steps
// it enqueues itself.
func InjectTrace(ctx context.Context, jobs ...*Job) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	for _, j := range jobs {
		if j.Meta == nil {
			j.Meta = map[string]string{}
		}
		otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(j.Meta))
	}
}
