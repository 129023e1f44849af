// Package driver is what a task engine implements so that package backends
// can run tasks on it, as database/sql/driver is to database/sql.
//
// Data flow: an application calls a *backends.Client; the client resolves
// and checks every option once (the task's registered defaults, the
// submission's overrides, validation) and hands the driver a complete Job;
// the driver puts it on its engine. A worker's driver takes jobs from the
// engine and calls a Handler with a Task; the handler's output or error
// goes back to the engine the engine's own way (its result store, its retry
// signal), and Result reads it back as a TaskResult, whatever the engine.
//
// A driver implements the small Driver interface. What only some engines
// have is an optional interface the client finds by type assertion:
// Notifier (a push when a task ends), Workflows (a native workflow
// construct), FlowStore (storage the client's own workflow runner can use
// on an engine without one), WorkflowDeclarer and TaskRegistrar (engines
// that must know a workflow or task before a worker starts), Pinger and
// WebUI. The client turns a missing power into a *UnsupportedError with a
// hint, never a silent no-op.
//
// Drivers register themselves with backends.Register in init. What two
// drivers would otherwise write twice lives here, once: the shared types,
// the task error's storage form (EncodeTaskError, DecodeTaskError), the
// workflow input rule (StepInput, StageOutput), the retry backoff
// (RetryDelay), a notice hub for pub/sub waiters (Hub), and Pause.
//
// The conformance suite, backends/backendtest, is the specification of
// every field's meaning: a driver is done when it passes it against its
// real engine.
package driver
