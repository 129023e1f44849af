// Command host is the WebAssembly task host: it runs task plugins (.wasm)
// in a sandbox, on its own (host run) or as the worker of a task engine.
//
// Usage:
//
//	host run TASK [JSON]       run one task in the sandbox, print its output
//	host plugins list          list plugins and tasks
//	host plugins verify        check every plugin; exit 1 on any problem
//	host plugins pin           pin each manifest plugin's sha256 in the manifest (an operator's own)
//
// Run "host COMMAND --help" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

const usage = `host: the WebAssembly task host.

Usage:
  host worker [--backend B] [--queues a,b] [--concurrency N] [--name N] [--health-addr :8080]
                             run the tasks the engine hands out, until SIGTERM
  host submit TASK [JSON] [--queue Q] [--wait]
                             submit a task; print its id (or, with --wait, its result)
  host submit --batch FILE   submit the JSON lines of FILE (- for stdin), one task a line; print their ids
  host cancel ID...          cancel tasks: pending ones never run, running ones are stopped
  host schedule ls | add | rm
                             list, create or delete schedules (cron or every)
  host ls [--state S] [--queue Q] [--task T] [--since D] [--limit N]
                             list tasks, newest first
  host retry ID...           run failed or cancelled tasks again
  host purge QUEUE [--yes]   delete a queue's waiting tasks
  host queues                each queue's tasks by state, and its workers
  host result ID             print a task's state now
  host wait ID               wait for a task and print its result
  host workflow submit NAME [JSON] [--wait] | status ID | cancel ID | list
                             run a workflow from the manifest, or show one
  host tasks                 list the tasks of the loaded plugins
  host health                check config, plugins and engine; exit 0 or 1
  host run TASK [JSON]       run one task in the sandbox, no engine, and print its JSON output
  host init plugin NAME      make a Go plugin's folder outside this repository
  host plugins list          list the plugins, their tasks, digests, limits and ABI
  host plugins verify        load and check every plugin; exit 1 on any problem
  host plugins pin           pin each manifest plugin's sha256 in the manifest (an operator's own)
  host bundle keygen | build | verify
                             make a signing key, a signed plugin bundle, or check bundles

Every command takes --manifest (env TASKHOST_MANIFEST, default manifest.toml),
--plugins-dir (env TASKHOST_PLUGINS_DIR, default plugins), --cache-dir
(env TASKHOST_CACHE_DIR), --bundle, --bundles-dir (default bundles),
--bundle-key, --log-level and --log-format. Engine commands take
--backend (env TASK_BACKEND_TYPE, default river: a SQLite file, no server)
and --backend-url (default from the engine's own variable, e.g. DATABASE_URL).
Run "host help COMMAND" (or "host COMMAND --help") for its flags, and
"host --version" for the version.
`

// Version is the host's version, set at build time with
// -ldflags "-X main.Version=v1.2.3"; else the module's build information.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	v, rev, dirty := "(devel)", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return v + " " + runtime.Version()
}

func main() {
	// The first SIGINT or SIGTERM ends the command's context: a worker stops
	// taking tasks and drains. A second one stops the process at once; the
	// tasks still running go back to the engine's retry, as after a crash.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "host: a second signal: stopping at once; running tasks go back to the engine's retry")
		os.Exit(130)
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// usageError is an error the user fixes by reading --help; exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// run dispatches a command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || (args[0] == "help" && len(args) == 1) {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "version" {
		fmt.Fprintln(stdout, "host", version())
		return 0
	}
	if args[0] == "help" {
		// host help CMD [SUB]: the command's own help.
		return run(ctx, append(args[1:], "--help"), stdin, stdout, stderr)
	}
	stopTracing, client, err := startTracing(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "host %s: %v\n", args[0], err)
		return 2
	}
	defer stopTracing()
	tracedHTTP = client
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdin, stdout, stderr)
	case "bundle":
		err = cmdBundle(ctx, args[1:], stdout, stderr)
	case "plugins":
		err = cmdPlugins(ctx, args[1:], stdout, stderr)
	case "worker":
		err = cmdWorker(ctx, args[1:], stdout, stderr)
	case "submit":
		err = cmdSubmit(ctx, args[1:], stdin, stdout, stderr)
	case "cancel":
		err = cmdCancel(ctx, args[1:], stdout, stderr)
	case "schedule":
		err = cmdSchedule(ctx, args[1:], stdin, stdout, stderr)
	case "ls":
		err = cmdLs(ctx, args[1:], stdout, stderr)
	case "retry":
		err = cmdRetry(ctx, args[1:], stdout, stderr)
	case "purge":
		err = cmdPurge(ctx, args[1:], stdin, stdout, stderr)
	case "queues":
		err = cmdQueues(ctx, args[1:], stdout, stderr)
	case "init":
		err = cmdInit(ctx, args[1:], stdout, stderr)
	case "result":
		err = cmdResult(ctx, false, args[1:], stdout, stderr)
	case "wait":
		err = cmdResult(ctx, true, args[1:], stdout, stderr)
	case "workflow":
		err = cmdWorkflow(ctx, args[1:], stdin, stdout, stderr)
	case "tasks":
		err = cmdTasks(ctx, args[1:], stdout, stderr)
	case "health":
		err = cmdHealth(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "host: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "host %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "host %s: %v\n", args[0], err)
		return 1
	}
}
