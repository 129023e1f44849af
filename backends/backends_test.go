package backends_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"taskhost.dev/backends"
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
			got, err := backends.StepInput(json.RawMessage(c.value), json.RawMessage(c.params))
			if err != nil || string(got) != c.want {
				t.Errorf("StepInput(%s, %s) = %s, %v; want %s", c.value, c.params, got, err, c.want)
			}
		})
	}
	if _, err := backends.StepInput(json.RawMessage(`{}`), json.RawMessage(`[1]`)); err == nil {
		t.Error("params that are not an object were accepted")
	}
}

func TestWorkflowValidate(t *testing.T) {
	cases := []struct {
		wf   *backends.Workflow
		want string
	}{
		{backends.NewWorkflow("empty"), "has no steps"},
		{backends.NewWorkflow("g").Parallel(), "stage 1 has no steps"},
		{backends.NewWorkflow("t").Then(""), "names no task"},
		{backends.NewWorkflow("p").Then("x", `[1]`), "params must be a JSON object"},
	}
	for _, c := range cases {
		if err := c.wf.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.wf.Name, err, c.want)
		}
	}
	if err := backends.NewWorkflow("ok").Then("a").Parallel(backends.Step{Task: "b"}, backends.Step{Task: "c"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestOpenUnknown(t *testing.T) {
	_, err := backends.Open(context.Background(), "nosuch", backends.Config{})
	if err == nil || !strings.Contains(err.Error(), `unknown backend "nosuch" (forgotten import?)`) {
		t.Fatalf("got %v", err)
	}
}

func TestErrorOf(t *testing.T) {
	cases := []struct {
		err       error
		kind      string
		retryable bool
	}{
		{errors.New("boom"), "failed", true},
		{&backends.TaskError{Kind: "oom", Message: "m", Retryable: false}, "oom", false},
		{fmt.Errorf("wrapped: %w", &backends.TaskError{Kind: "trap", Message: "m"}), "trap", false},
		{context.DeadlineExceeded, "timeout", true},
		{context.Canceled, "canceled", true},
	}
	for _, c := range cases {
		te := backends.ErrorOf(c.err)
		if te.Kind != c.kind || te.Retryable != c.retryable {
			t.Errorf("ErrorOf(%v) = %+v, want %s retryable=%v", c.err, te, c.kind, c.retryable)
		}
	}
	var u error = &backends.UnsupportedError{Engine: "x", What: "unique keys"}
	if !errors.Is(u, backends.ErrUnsupported) || !strings.Contains(u.Error(), "x: unique keys is not supported") {
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
		err := backends.Config{Options: tc.opts}.CheckOptions("x", tc.known...)
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
		noticed, err := backends.Pause(c.ctx, c.d, c.notice)
		if noticed != c.wantNoticed || !errors.Is(err, c.wantErr) {
			t.Errorf("%s: Pause = %v, %v; want %v, %v", c.name, noticed, err, c.wantNoticed, c.wantErr)
		}
	}
}
