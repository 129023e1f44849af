// Command host is the WebAssembly task host: it runs task plugins (.wasm)
// in a sandbox, on its own (host run) or as the worker of a task engine.
//
// Usage:
//
//	host run TASK [JSON]       run one task in the sandbox, print its output
//	host plugins list          list plugins and tasks
//	host plugins verify        check every plugin; exit 1 on any problem
//	host plugins pin           write each plugin's sha256 into the manifest
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
	"syscall"
)

const usage = `host: the WebAssembly task host.

Usage:
  host worker [--backend B] [--queues a,b] [--concurrency N] [--name N] [--health-addr :8080]
                             run the tasks the engine hands out, until SIGTERM
  host submit TASK [JSON] [--queue Q] [--wait]
                             submit a task; print its id (or, with --wait, its result)
  host result ID             print a task's state now
  host wait ID               wait for a task and print its result
  host workflow submit NAME [JSON] [--wait] | status ID | list
                             run a workflow from the manifest, or show one
  host tasks                 list the tasks of the loaded plugins
  host health                check config, plugins and engine; exit 0 or 1
  host run TASK [JSON]       run one task in the sandbox, no engine, and print its JSON output
  host plugins list          list the plugins, their tasks, digests, limits and ABI
  host plugins verify        load and check every plugin; exit 1 on any problem
  host plugins pin           write each manifest plugin's sha256 into the manifest
  host bundle keygen | build | verify
                             make a signing key, a signed plugin bundle, or check bundles

Every command takes --manifest (env TASKHOST_MANIFEST, default manifest.toml),
--plugins-dir (env TASKHOST_PLUGINS_DIR, default plugins), --cache-dir
(env TASKHOST_CACHE_DIR), --bundle, --bundles-dir (default bundles),
--bundle-key, --log-level and --log-format. Engine commands take
--backend (env TASK_BACKEND_TYPE, default river: a SQLite file, no server)
and --backend-url (default from the engine's own variable, e.g. DATABASE_URL).
Run "host COMMAND --help" for its flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
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
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
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
