package extism

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"taskhost.dev/abi"
)

// Fault is a breach of the sandbox found by a host function. The host
// function records it in the State and aborts the call; the host reports it
// as a task error of the given kind.
type Fault struct {
	Kind abi.Kind
	Msg  string
}

func (f *Fault) Error() string { return f.Msg }

// State is what the host functions of one plugin instance work on.
type State struct {
	// Mem is the instance's Extism memory.
	Mem Memory
	// Config holds the values config_get returns.
	Config map[string]string
	// Vars holds the values of var_get and var_set; they live as long as the
	// instance.
	Vars map[string][]byte
	// MaxVarBytes caps the total size of Vars.
	MaxVarBytes int
	// HTTP is the policy of http_request; nil denies every request.
	HTTP *HTTPPolicy
	// Log receives log_* calls; nil drops them.
	Log func(ctx context.Context, level slog.Level, msg string)
	// LogLevel is the lowest level the host wants (get_log_level).
	LogLevel slog.Level
	// Deadline is when the current call must end; HTTP requests stop then.
	Deadline time.Time

	// Fault is the first sandbox breach of the current call.
	Fault *Fault

	lastStatus  int32
	lastHeaders map[string]string
}

// HTTPPolicy says where a plugin may send HTTP requests.
type HTTPPolicy struct {
	// AllowedHosts lists host names or path.Match patterns ("*.example.com").
	AllowedHosts []string
	// MaxResponseBytes caps a response body.
	MaxResponseBytes int64
	// Client sends the requests.
	Client *http.Client
}

// BeginCall prepares the state for a call with the given input.
func (s *State) BeginCall(input []byte, deadline time.Time) error {
	s.Mem.Reset()
	s.Fault = nil
	s.lastStatus = 0
	s.lastHeaders = nil
	s.Deadline = deadline
	return s.Mem.SetInput(input)
}

// Fail records f (unless a fault is already recorded) and aborts the call by
// panicking; wazero turns the panic into the call's error. Only host
// functions may call it.
func (s *State) Fail(f *Fault) { s.fail(f) }

func (s *State) fail(f *Fault) {
	if s.Fault == nil {
		s.Fault = f
	}
	panic(s.Fault)
}

// Env is implemented by whatever the host keeps per instance.
type Env interface {
	ExtismState() *State
}

type ctxKey struct{}

// NewContext returns ctx carrying env for the host functions.
func NewContext(ctx context.Context, env Env) context.Context {
	return context.WithValue(ctx, ctxKey{}, env)
}

// FromContext returns the Env that NewContext stored, or nil.
func FromContext(ctx context.Context) Env {
	env, _ := ctx.Value(ctxKey{}).(Env)
	return env
}

func stateOf(ctx context.Context) *State {
	if c, ok := ctx.(*CallContext); ok {
		return c.state
	}
	env := FromContext(ctx)
	if env == nil {
		panic("extism host function called outside a task call")
	}
	return env.ExtismState()
}
