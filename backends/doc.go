// Package backends is the engine-neutral interface between applications,
// the task host and the task engines (River, asynq, Temporal, Hatchet,
// Celery's wire protocol).
//
// Data flow: an application Submits a task by name with a JSON input; the
// adapter hands it to its engine; a worker (Backend.Work) receives it from
// the engine and calls a Handler, which in the host binary runs the task in
// a WebAssembly sandbox; the adapter stores the outcome in the engine's own
// result store, with the engine's own retry signal; Result and Wait read it
// back as one TaskResult, whatever the engine.
//
// Adapters register themselves like database/sql drivers:
//
//	import _ "taskhost.dev/backends/river"
//	b, err := backends.Open("river", backends.Config{})
//
// The package knows nothing of WebAssembly: a Handler turns (task, input)
// into (output, error), and the error's kind and retryability are read
// through the small Classified interface, so an adapter can be tested with
// a plain Go handler. Every adapter passes the same conformance suite,
// backends/backendtest.
package backends
