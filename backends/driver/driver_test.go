package driver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

func TestStepInput(t *testing.T) {
	cases := []struct{ name, value, params, want string }{
		{"no params", `{"a":1}`, ``, `{"a":1}`},
		{"params added", `{"a":1}`, `{"b":2}`, `{"a":1,"b":2}`},
		{"params win", `{"a":1}`, `{"a":9}`, `{"a":9}`},
		{"array wrapped", `[1,2]`, `{"b":2}`, `{"b":2,"input":[1,2]}`},
		{"string wrapped", `"hi"`, `{"b":true}`, `{"b":true,"input":"hi"}`},
		{"null wrapped", `null`, `{"b":1}`, `{"b":1,"input":null}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := driver.StepInput(json.RawMessage(c.value), json.RawMessage(c.params))
			if err != nil || string(got) != c.want {
				t.Errorf("StepInput(%s, %s) = %s, %v; want %s", c.value, c.params, got, err, c.want)
			}
		})
	}
	if _, err := driver.StepInput(json.RawMessage(`{}`), json.RawMessage(`[1]`)); err == nil {
		t.Error("params that are not an object were accepted")
	}
}

func TestWorkflowValidate(t *testing.T) {
	cases := []struct {
		wf   *driver.Workflow
		want string
	}{
		{driver.NewWorkflow("empty"), "has no steps"},
		{driver.NewWorkflow("g").Parallel(), "stage 1 has no steps"},
		{driver.NewWorkflow("t").Then(""), "names no task"},
		{driver.NewWorkflow("p").Then("x", `[1]`), "params must be a JSON object"},
	}
	for _, c := range cases {
		if err := c.wf.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.wf.Name, err, c.want)
		}
	}
	if err := driver.NewWorkflow("ok").Then("a").Parallel(driver.Step{Task: "b"}, driver.Step{Task: "c"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestErrorOf(t *testing.T) {
	cases := []struct {
		err       error
		kind      abi.Kind
		retryable bool
	}{
		{errors.New("boom"), "failed", true},
		{&driver.TaskError{Kind: "oom", Message: "m", Retryable: false}, "oom", false},
		{fmt.Errorf("wrapped: %w", &driver.TaskError{Kind: "trap", Message: "m"}), "trap", false},
		{context.DeadlineExceeded, "timeout", true},
		{context.Canceled, "cancelled", true},
	}
	for _, c := range cases {
		te := driver.ErrorOf(c.err)
		if te.Kind != c.kind || te.Retryable != c.retryable {
			t.Errorf("ErrorOf(%v) = %+v, want %s retryable=%v", c.err, te, c.kind, c.retryable)
		}
	}
	var u error = &driver.UnsupportedError{Engine: "x", What: "unique keys"}
	if !errors.Is(u, driver.ErrUnsupported) || !strings.Contains(u.Error(), "x: unique keys is not supported") {
		t.Errorf("UnsupportedError: %v", u)
	}
}

func TestCheckOptions(t *testing.T) {
	for _, tc := range []struct {
		opts  map[string]string
		known []string
		want  string // "" for no error
	}{
		{nil, nil, ""},
		{map[string]string{"a": "1"}, []string{"a", "b"}, ""},
		{map[string]string{"c": "1", "a": "2"}, []string{"a", "b"}, "x: unknown option c (this engine knows: a, b)"},
		{map[string]string{"a": "1"}, nil, "x: unknown option a (this engine knows: none)"},
	} {
		err := driver.CheckOptions("x", tc.opts, tc.known...)
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("CheckOptions(%v, %v) = %v, want %q", tc.opts, tc.known, err, tc.want)
		}
	}
}

func TestPause(t *testing.T) {
	fired := make(chan struct{}, 1)
	fired <- struct{}{}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name        string
		ctx         context.Context
		d           time.Duration
		notice      <-chan struct{}
		wantNoticed bool
		wantErr     error
	}{
		{"notice", context.Background(), time.Hour, fired, true, nil},
		{"time", context.Background(), time.Millisecond, nil, false, nil},
		{"canceled", canceled, time.Hour, nil, false, context.Canceled},
	} {
		noticed, err := driver.Pause(c.ctx, c.d, c.notice)
		if noticed != c.wantNoticed || !errors.Is(err, c.wantErr) {
			t.Errorf("%s: Pause = %v, %v; want %v, %v", c.name, noticed, err, c.wantNoticed, c.wantErr)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{-1, time.Second}, {0, time.Second}, {1, 2 * time.Second}, {3, 8 * time.Second}, {9, 512 * time.Second}, {10, driver.RetryMaxDelay}, {100, driver.RetryMaxDelay}} {
		if got := driver.RetryDelay(c.n); got != c.want {
			t.Errorf("RetryDelay(%d) = %s, want %s", c.n, got, c.want)
		}
	}
}

func TestDecodeTaskError(t *testing.T) {
	for _, c := range []struct {
		text string
		want driver.TaskError
	}{
		{driver.EncodeTaskError(&driver.TaskError{Kind: abi.KindOOM, Message: "m"}), driver.TaskError{Kind: abi.KindOOM, Message: "m"}},
		{"JobCancelError: " + driver.EncodeTaskError(&driver.TaskError{Kind: abi.KindFailed, Message: "x", Retryable: true}) + ": skip retry",
			driver.TaskError{Kind: abi.KindFailed, Message: "x", Retryable: true}},
		{"context deadline exceeded", driver.TaskError{Kind: abi.KindTimeout, Message: "context deadline exceeded", Retryable: true}},
		{"panic: boom", driver.TaskError{Kind: abi.KindTrap, Message: "panic: boom", Retryable: true}},
		{"{not json", driver.TaskError{Kind: abi.KindFailed, Message: "{not json", Retryable: true}},
	} {
		if got := driver.DecodeTaskError(c.text); *got != c.want {
			t.Errorf("DecodeTaskError(%q) = %+v, want %+v", c.text, *got, c.want)
		}
	}
}

func TestDecodeFailedStep(t *testing.T) {
	raw, _ := json.Marshal(driver.FailedStep{TaskError: &driver.TaskError{Kind: abi.KindFailed, Message: "no"}, Stage: 2, Index: 1})
	f := driver.DecodeFailedStep(string(raw))
	if f.Stage != 2 || f.Index != 1 || f.Kind != abi.KindFailed || f.Message != "no" {
		t.Errorf("DecodeFailedStep(%s) = %+v", raw, f)
	}
	if driver.DecodeFailedStep("") != nil {
		t.Error("DecodeFailedStep(\"\") is not nil")
	}
	if f := driver.DecodeFailedStep("engine text"); f.Stage != -1 || f.Message != "engine text" {
		t.Errorf("DecodeFailedStep(engine text) = %+v", f)
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		b    driver.Backoff
		n    int
		want time.Duration
	}{
		{driver.Backoff{}, 2, 4 * time.Second},
		{driver.Backoff{Initial: 100 * time.Millisecond}, 3, 800 * time.Millisecond},
		{driver.Backoff{Initial: time.Second, Max: 3 * time.Second}, 5, 3 * time.Second},
		{driver.Backoff{Initial: 2 * time.Second, Fixed: true}, 7, 2 * time.Second},
	} {
		if got := c.b.Delay(c.n); got != c.want {
			t.Errorf("%+v.Delay(%d) = %s, want %s", c.b, c.n, got, c.want)
		}
	}
	j := driver.Backoff{Initial: time.Second, Fixed: true, Jitter: 0.5}
	for range 100 {
		if d := j.Delay(0); d < time.Second || d > 1500*time.Millisecond {
			t.Fatalf("jittered delay %s outside 1s..1.5s", d)
		}
	}
}
