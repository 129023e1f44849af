// Package backends is what an application uses to run tasks on a task
// engine: River (on SQLite or PostgreSQL), asynq, Temporal, Hatchet or
// Celery's wire protocol, with the same code on each.
//
// Open returns a *Client for one engine. The client registers tasks,
// submits them (Submit) and workflows (SubmitWorkflow), reads and waits for
// their results (Result, Wait), and runs workers (Work). What every engine
// would otherwise repeat it owns once: option resolution and checking, the
// task registry, waiting (the engine's notification or a poll), workflow
// checking and, for engines without a workflow construct, the stage
// runner. An engine's driver (package backends/driver) does the rest;
// drivers register themselves like database/sql drivers:
//
//	import _ "taskhost.dev/backends/river"
//	c, err := backends.Open(ctx, "river", backends.Config{})
//
// Data flow: Submit resolves the task's defaults and the options into a
// job and the driver enqueues it; a worker's driver takes it from the
// engine and calls a Handler (in the host binary, the worker package runs
// the task in a WebAssembly sandbox); the driver stores the outcome in the
// engine's own result store with the engine's own retry signal; Result and
// Wait read it back as one TaskResult, whatever the engine.
//
// The package knows nothing of WebAssembly: a Handler turns (task, input)
// into (output, error), and the error's kind and retryability are read
// through the small Classified interface. Every driver passes the same
// conformance suite, backends/backendtest, which states what each option
// means.
package backends
