package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"

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
	output := fs.String("o", "text", "output `format`: text (the task's JSON output) or json (an object with the output or the error, and the time taken)")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*output); err != nil {
		return err
	}
	if *timeout < 0 {
		return usageErr("--timeout %s: want a positive duration", *timeout)
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
	ctx, span := otel.GetTracerProvider().Tracer("taskhost.dev/cmd/host").Start(ctx, "run "+task)
	out, err := h.Run(ctx, task, []byte(input), inv)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	if *output == "json" {
		res := map[string]any{"task": task, "duration": time.Since(start).Round(time.Microsecond).String()}
		if err == nil {
			res["status"], res["output"] = "succeeded", json.RawMessage(out)
		} else if te, ok := host.AsTaskError(err); ok {
			res["status"], res["error"] = "failed", map[string]any{"kind": te.Kind, "message": te.Message, "retryable": te.Retryable}
		} else {
			return err
		}
		if werr := writeJSON(stdout, res); werr != nil {
			return werr
		}
		if err != nil {
			return fmt.Errorf("task %s failed", task)
		}
		return nil
	}
	if err != nil {
		if te, ok := host.AsTaskError(err); ok {
			return fmt.Errorf("%w (kind=%s retryable=%v after %s)", te, te.Kind, te.Retryable, time.Since(start).Round(time.Millisecond))
		}
		return err
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return nil
}
