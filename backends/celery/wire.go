package celery

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// Celery's message protocol v2 as kombu's Redis transport carries it. A
// message is a JSON envelope pushed on a list named after the queue (with
// a suffix for priorities 3, 6 and 9); the envelope's body is the base64 of
// [args, kwargs, embed].

// sep separates the parts of kombu's binding entries and priority lists.
const sep = "\x06\x16"

// priorityLists returns the lists of a queue in the order kombu empties
// them: priority 0 (the plain queue name) first, then 3, 6 and 9.
func priorityLists(queue string) []string {
	return []string{queue, queue + sep + "3", queue + sep + "6", queue + sep + "9"}
}

// priorityList is the list a message of the given priority goes on, as
// kombu's _q_for_pri: the priority rounds down to a step of 0, 3, 6, 9.
func priorityList(queue string, priority int) string {
	switch {
	case priority >= 9:
		return queue + sep + "9"
	case priority >= 6:
		return queue + sep + "6"
	case priority >= 3:
		return queue + sep + "3"
	}
	return queue
}

// queueOfList strips the priority suffix from a list name.
func queueOfList(list string) string {
	q, _, _ := strings.Cut(list, sep)
	return q
}

// bindingKey and bindingMember are kombu's record that a queue is bound to
// the exchange of the same name with its own name as routing key.
func bindingKey(queue string) string    { return "_kombu.binding." + queue }
func bindingMember(queue string) string { return queue + sep + sep + queue }

// splitBinding reads a binding entry: routing key, pattern, queue; nil
// when it is not one.
func splitBinding(m string) []string {
	if f := strings.Split(m, sep); len(f) == 3 {
		return f
	}
	return nil
}

// envelope is a kombu message.
type envelope struct {
	Body            string     `json:"body"`
	ContentEncoding string     `json:"content-encoding"`
	ContentType     string     `json:"content-type"`
	Headers         headers    `json:"headers"`
	Properties      properties `json:"properties"`
}

// headers are protocol v2's task headers, with this project's own
// additions (prefixed taskhost_), which Celery passes along and ignores.
type headers struct {
	Lang         string      `json:"lang"`
	Task         string      `json:"task"`
	ID           string      `json:"id"`
	Shadow       *string     `json:"shadow"`
	ETA          *string     `json:"eta"`
	Expires      *string     `json:"expires"`
	Group        *string     `json:"group"`
	GroupIndex   *int        `json:"group_index"`
	Retries      int         `json:"retries"`
	TimeLimit    [2]*float64 `json:"timelimit"`
	RootID       string      `json:"root_id"`
	ParentID     *string     `json:"parent_id"`
	ArgsRepr     string      `json:"argsrepr"`
	KwargsRepr   string      `json:"kwargsrepr"`
	Origin       string      `json:"origin"`
	IgnoreResult bool        `json:"ignore_result"`
	Redelivered  bool        `json:"redelivered,omitempty"`
	// MaxRetries are the task's retries, as the client resolved them.
	MaxRetries *int `json:"taskhost_max_retries,omitempty"`
	// Backoff is the task's own wait between attempts (the countdown of
	// each retry); nil for the default, driver.RetryDelay.
	Backoff    *driver.Backoff `json:"taskhost_backoff,omitempty"`
	EnqueuedAt string          `json:"taskhost_enqueued_at,omitempty"`
	// Unique is the task's unique key, freed when the task is done.
	Unique string `json:"taskhost_unique,omitempty"`
	// Workflow is the workflow step the task runs.
	Workflow *driver.FlowRef `json:"taskhost_workflow,omitempty"`
	// Traceparent and Tracestate are the W3C trace context, top-level
	// headers as OpenTelemetry's Celery instrumentation reads and writes
	// them; Meta holds the rest of a job's driver.Job.Meta.
	Traceparent string            `json:"traceparent,omitempty"`
	Tracestate  string            `json:"tracestate,omitempty"`
	Meta        map[string]string `json:"taskhost_meta,omitempty"`
}

// setMeta puts a job's Meta into h.
func (h *headers) setMeta(meta map[string]string) {
	for k, v := range meta {
		switch k {
		case "traceparent":
			h.Traceparent = v
		case "tracestate":
			h.Tracestate = v
		default:
			if h.Meta == nil {
				h.Meta = map[string]string{}
			}
			h.Meta[k] = v
		}
	}
}

// meta is the Meta h carries, nil when none.
func (h *headers) meta() map[string]string {
	if h.Traceparent == "" && h.Tracestate == "" && len(h.Meta) == 0 {
		return nil
	}
	m := make(map[string]string, len(h.Meta)+2)
	for k, v := range h.Meta {
		m[k] = v
	}
	if h.Traceparent != "" {
		m["traceparent"] = h.Traceparent
	}
	if h.Tracestate != "" {
		m["tracestate"] = h.Tracestate
	}
	return m
}

type properties struct {
	CorrelationID string       `json:"correlation_id"`
	ReplyTo       string       `json:"reply_to"`
	DeliveryMode  int          `json:"delivery_mode"`
	DeliveryInfo  deliveryInfo `json:"delivery_info"`
	Priority      int          `json:"priority"`
	BodyEncoding  string       `json:"body_encoding"`
	DeliveryTag   string       `json:"delivery_tag"`
}

type deliveryInfo struct {
	Exchange    string `json:"exchange"`
	RoutingKey  string `json:"routing_key"`
	Redelivered bool   `json:"redelivered,omitempty"`
}

// body is a message's decoded body: [args, kwargs, embed].
type body struct {
	Args   []json.RawMessage
	Kwargs map[string]json.RawMessage
	Embed  embed
}

// embed carries a task's links: signatures (JSON objects) run after it.
// chain lists the rest of a chain, the next task last.
type embed struct {
	Callbacks []json.RawMessage `json:"callbacks"`
	Errbacks  []json.RawMessage `json:"errbacks"`
	Chain     []json.RawMessage `json:"chain"`
	Chord     json.RawMessage   `json:"chord"`
}

// signature is a Celery signature as chains and links carry it.
type signature struct {
	Task      string                     `json:"task"`
	Args      []json.RawMessage          `json:"args"`
	Kwargs    map[string]json.RawMessage `json:"kwargs"`
	Options   map[string]json.RawMessage `json:"options"`
	Immutable bool                       `json:"immutable"`
}

func (s signature) option(name string) string {
	var v string
	if raw, ok := s.Options[name]; ok {
		json.Unmarshal(raw, &v)
	}
	return v
}

func (b body) MarshalJSON() ([]byte, error) {
	args := b.Args
	if args == nil {
		args = []json.RawMessage{}
	}
	kwargs := b.Kwargs
	if kwargs == nil {
		kwargs = map[string]json.RawMessage{}
	}
	return json.Marshal([]any{args, kwargs, b.Embed})
}

// decodeBody reads an envelope's body.
func decodeBody(env *envelope) (body, error) {
	var b body
	if ct := env.ContentType; ct != "application/json" {
		return b, fmt.Errorf("content type %q is not supported (send JSON: task_serializer = \"json\")", ct)
	}
	raw := []byte(env.Body)
	if env.Properties.BodyEncoding == "base64" {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(env.Body); err != nil {
			return b, fmt.Errorf("the body is not valid base64: %v", err)
		}
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) < 2 {
		return b, fmt.Errorf("the body is not a protocol v2 [args, kwargs, embed] array (protocol 1 messages are not supported)")
	}
	if err := json.Unmarshal(parts[0], &b.Args); err != nil {
		return b, fmt.Errorf("the body's args are not a JSON array: %v", err)
	}
	if err := json.Unmarshal(parts[1], &b.Kwargs); err != nil {
		return b, fmt.Errorf("the body's kwargs are not a JSON object: %v", err)
	}
	if len(parts) > 2 && !bytes.Equal(bytes.TrimSpace(parts[2]), []byte("null")) {
		if err := json.Unmarshal(parts[2], &b.Embed); err != nil {
			return b, fmt.Errorf("the body's embed (callbacks, errbacks, chain, chord) is malformed: %v", err)
		}
	}
	return b, nil
}

// InputOf is the rule that turns a Celery call's args and kwargs into a
// task's JSON input:
//
//   - no args: the kwargs object ({} when there are none);
//   - one arg: that value; several args: the array of them;
//   - with kwargs beside args, the kwargs are added to that value as a
//     workflow step's params are (driver.StepInput): set on it when it
//     is an object, else the input is {"input": value, ...kwargs}.
//
// So send_task("t", kwargs={"a": 1}) and send_task("t", args=[{"a": 1}])
// both give {"a": 1}, and the previous result a chain passes as the first
// arg is the next task's input. ArgsOf is its inverse.
func InputOf(args []json.RawMessage, kwargs map[string]json.RawMessage) (json.RawMessage, error) {
	var value json.RawMessage
	switch len(args) {
	case 0:
		if kwargs == nil {
			kwargs = map[string]json.RawMessage{}
		}
		return json.Marshal(kwargs)
	case 1:
		value = args[0]
	default:
		value, _ = json.Marshal(args)
	}
	if len(kwargs) == 0 {
		return value, nil
	}
	params, _ := json.Marshal(kwargs)
	return driver.StepInput(value, params)
}

// ArgsOf is how Submit passes a JSON input to a Celery task: an object as
// kwargs, any other value as the one positional arg.
func ArgsOf(input json.RawMessage) ([]json.RawMessage, map[string]json.RawMessage) {
	var kw map[string]json.RawMessage
	if t := bytes.TrimSpace(input); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &kw) == nil {
		return []json.RawMessage{}, kw
	}
	return []json.RawMessage{input}, map[string]json.RawMessage{}
}

// isoTime is the time format of eta, expires and date_done: Python's
// isoformat, with the zone.
const isoTime = "2006-01-02T15:04:05.000000-07:00"

// parseISO reads a Python isoformat time; one without a zone is UTC.
func parseISO(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time", s)
}

// meta is a task's state in Celery's Redis result backend, under
// celery-task-meta-ID. The fields after task_id are those Celery writes
// with result_extended.
type meta struct {
	Status    string          `json:"status"`
	Result    json.RawMessage `json:"result"`
	Traceback *string         `json:"traceback"`
	Children  []any           `json:"children"`
	DateDone  *string         `json:"date_done"`
	TaskID    string          `json:"task_id"`
	Name      string          `json:"name,omitempty"`
	Retries   int             `json:"retries,omitempty"`
	Queue     string          `json:"queue,omitempty"`
	Worker    string          `json:"worker,omitempty"`
}

// The Celery states.
const (
	statePending = "PENDING"
	stateStarted = "STARTED"
	stateRetry   = "RETRY"
	stateSuccess = "SUCCESS"
	stateFailure = "FAILURE"
	stateRevoked = "REVOKED"
)

// metaPrefix starts the key of a task's state in the result backend, and
// the channel it is published on.
const metaPrefix = "celery-task-meta-"

func metaKey(id string) string { return metaPrefix + id }

// excInfo is a failure as Celery's result backend stores it; Python's
// AsyncResult raises it as exc_module.exc_type(*exc_message). The taskhost_
// fields keep the host's error kind and retry verdict.
type excInfo struct {
	Type      string   `json:"exc_type"`
	Message   []any    `json:"exc_message"`
	Module    string   `json:"exc_module"`
	Kind      abi.Kind `json:"taskhost_kind,omitempty"`
	Retryable *bool    `json:"taskhost_retryable,omitempty"`
}

// excOf is the exception a task error is stored as: a timeout as
// billiard's TimeLimitExceeded (as a Python worker stores one), an
// unknown task as NotRegistered, a cancelled one (an expired task) as
// TaskRevokedError, any other kind as taskhost.TaskFailed.
func excOf(te *driver.TaskError) excInfo {
	e := excInfo{Type: "TaskFailed", Module: "taskhost", Message: []any{te.Message}, Kind: te.Kind, Retryable: &te.Retryable}
	switch te.Kind {
	case abi.KindTimeout:
		e.Type, e.Module = "TimeLimitExceeded", "billiard.exceptions"
	case abi.KindUnknownTask:
		e.Type, e.Module = "NotRegistered", "celery.exceptions"
	case abi.KindCancelled:
		e.Type, e.Module = "TaskRevokedError", "celery.exceptions"
	}
	return e
}

// taskErrorOf reads a stored failure, ours or a Python worker's.
func taskErrorOf(raw json.RawMessage) *driver.TaskError {
	var e excInfo
	if err := json.Unmarshal(raw, &e); err != nil || e.Type == "" {
		return &driver.TaskError{Kind: abi.KindFailed, Message: string(raw), Retryable: true}
	}
	parts := make([]string, len(e.Message))
	for i, m := range e.Message {
		parts[i] = fmt.Sprint(m)
	}
	text := strings.Join(parts, " ")
	if e.Kind != "" {
		return &driver.TaskError{Kind: e.Kind, Message: text, Retryable: e.Retryable != nil && *e.Retryable}
	}
	// A Python worker's exception: exc_message holds its args.
	kind := abi.KindFailed
	switch e.Type {
	case "TimeLimitExceeded", "SoftTimeLimitExceeded":
		kind = abi.KindTimeout
	case "TaskRevokedError":
		kind = abi.KindCancelled
	}
	return &driver.TaskError{Kind: kind, Message: e.Type + ": " + text, Retryable: true}
}

// isoUTC is date_done's format: UTC without a zone, as Celery 5.2 writes it.
func isoUTC(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }
