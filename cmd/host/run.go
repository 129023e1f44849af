package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/host"
)

const runSynopsis = `Usage: host run [flags] TASK [JSON]

Runs one task in the sandbox, with no engine, and prints its JSON output.
The input is JSON, "-" to read it from standard input; {} when omitted.
On failure it prints the typed error on stderr and exits 1.`

func cmdRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var hf hostFlags
	fs := newFlagSet("host run", runSynopsis, stderr)
	hf.register(fs)
	timeout := fs.Duration("timeout", 0, "per-task `timeout`; the task's own when 0")
	id := fs.String("id", "", "task `id` shown in the plugin's log lines")
	progress := fs.Bool("progress", false, "print the task's progress reports on stderr")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return usageErr("want TASK and an optional JSON input")
	}
	task := pos[0]
	input, err := inputArg(pos, stdin)
	if err != nil {
		return err
	}
	h, err := hf.load(ctx, stderr)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	inv := host.Invocation{ID: *id, Attempt: 1, Timeout: *timeout}
	if *progress {
		inv.OnProgress = func(p abi.Progress) {
			fmt.Fprintf(stderr, "progress: %3.0f%% %s\n", p.Percent, p.Message)
		}
	}
	start := time.Now()
	out, err := h.Run(ctx, task, []byte(input), inv)
	if err != nil {
		if te, ok := host.AsTaskError(err); ok {
			return fmt.Errorf("%w (kind=%s retryable=%v after %s)", te, te.Kind, te.Retryable, time.Since(start).Round(time.Millisecond))
		}
		return err
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return nil
}
