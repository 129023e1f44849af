package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"taskhost.dev/abi"
)

type handler func(input []byte) ([]byte, error)

type task struct {
	meta abi.TaskMeta
	run  handler
}

var (
	mu    sync.Mutex
	tasks = map[string]*task{}
)

// Option sets a task's defaults in the module's metadata; the manifest can
// still override them.
type Option func(*abi.TaskMeta)

// Queue sets the task's default queue.
func Queue(name string) Option { return func(m *abi.TaskMeta) { m.Queue = name } }

// MaxRetries sets the task's default number of retries.
func MaxRetries(n int) Option { return func(m *abi.TaskMeta) { m.MaxRetries = &n } }

// Timeout sets the task's default per-attempt timeout.
func Timeout(d time.Duration) Option { return func(m *abi.TaskMeta) { m.Timeout = d.String() } }

// Describe sets the task's one-line description.
func Describe(s string) Option { return func(m *abi.TaskMeta) { m.Description = s } }

// Function names the exported function when it differs from the task name.
func Function(name string) Option { return func(m *abi.TaskMeta) { m.Function = name } }

// Register registers fn as the task name. The input JSON is decoded into I
// (a decoding failure is a BadInput error) and the result is encoded as
// JSON. It panics on an invalid or duplicate name, as registration happens
// in init.
//
// When *I implements json.Unmarshaler, or O (or *O) json.Marshaler, the SDK
// calls those methods directly instead of going through encoding/json's
// reflection; the host checks that input and output are valid JSON either
// way. Inside WebAssembly that is most of a small task's cost: generated
// codecs (easyjson, as the core plugin basic_operations uses: see
// docs/writing-plugins.md) make a task like add several times faster than
// reflection.
func Register[I, O any](name string, fn func(I) (O, error), opts ...Option) {
	encode := encoder[O]()
	run := func(input []byte) ([]byte, error) {
		var in I
		if len(input) > 0 {
			if err := decode(input, &in); err != nil {
				return nil, BadInput(fmt.Errorf("decoding input: %w", err))
			}
		}
		out, err := fn(in)
		if err != nil {
			return nil, err
		}
		return encode(&out)
	}
	RegisterRaw(name, run, opts...)
}

// decode decodes input into v with v's own UnmarshalJSON if it has one.
func decode(input []byte, v any) error {
	if u, ok := v.(json.Unmarshaler); ok {
		return u.UnmarshalJSON(input)
	}
	return json.Unmarshal(input, v)
}

// encoder returns how a task's result of type O is encoded: with its own
// MarshalJSON when O or *O has one, else with encoding/json. The method is
// called through *O (whose method set has O's too), so that the result is
// not copied into an interface. A type that can be nil (a pointer, a
// map...) always goes through encoding/json, which writes a nil value as
// null without calling the method.
func encoder[O any]() func(*O) ([]byte, error) {
	switch reflect.TypeFor[O]().Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
	default:
		if _, ok := any(new(O)).(json.Marshaler); ok {
			return func(v *O) ([]byte, error) { return any(v).(json.Marshaler).MarshalJSON() }
		}
	}
	return func(v *O) ([]byte, error) { return json.Marshal(*v) }
}

// RegisterRaw registers a task that handles its input and output bytes
// itself.
func RegisterRaw(name string, fn func(input []byte) ([]byte, error), opts ...Option) {
	if !abi.ValidName(name) {
		panic(fmt.Sprintf("sdk.Register: task name %q is not valid", name))
	}
	m := abi.TaskMeta{Name: name}
	for _, o := range opts {
		o(&m)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := tasks[name]; dup {
		panic(fmt.Sprintf("sdk.Register: task %q registered twice", name))
	}
	tasks[name] = &task{meta: m, run: fn}
}

// Call runs the registered task name with a JSON input in-process and
// returns its JSON output; tests use it to check task logic without
// building a module.
func Call(name string, input []byte) ([]byte, error) {
	mu.Lock()
	t, ok := tasks[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("sdk: no task %q is registered", name)
	}
	return t.run(input)
}

// Meta returns the module's metadata document: the ABI version and every
// registered task, sorted by name.
func Meta() abi.Meta {
	mu.Lock()
	defer mu.Unlock()
	m := abi.Meta{ABI: abi.Version, Tasks: make([]abi.TaskMeta, 0, len(tasks))}
	for _, t := range tasks {
		m.Tasks = append(m.Tasks, t.meta)
	}
	sort.Slice(m.Tasks, func(i, j int) bool { return m.Tasks[i].Name < m.Tasks[j].Name })
	return m
}

// taskError carries an error's kind and retryability to the host.
type taskError struct {
	err       error
	kind      abi.Kind
	retryable bool
}

func (e *taskError) Error() string { return e.err.Error() }
func (e *taskError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the engine gives up at once.
func Permanent(err error) error {
	return &taskError{err: err, kind: abi.KindFailed, retryable: false}
}

// BadInput marks err as a problem with the task's input; it is not retried.
func BadInput(err error) error {
	return &taskError{err: err, kind: abi.KindBadInput, retryable: false}
}

// encodeError returns the text the host receives for err.
func encodeError(err error) []byte {
	var te *taskError
	if errors.As(err, &te) {
		r := te.retryable
		return abi.EncodeError(abi.Error{Message: err.Error(), Kind: te.kind, Retryable: &r})
	}
	return []byte(err.Error())
}
