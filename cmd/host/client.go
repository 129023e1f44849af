package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"taskhost.dev/backends"
)

const submitSynopsis = `Usage: host submit [flags] TASK [JSON]

Submits a task to the engine and prints its id; with --wait, waits for it
and prints its result (exit 1 if it failed). The input is JSON, "-" for
standard input; {} when omitted.`

func cmdSubmit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host submit", submitSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	queue := fs.String("queue", "", "submit to this `queue` instead of the task's")
	wait := fs.Bool("wait", false, "wait for the result and print it")
	delay := fs.Duration("delay", 0, "run no earlier than this `duration` from now")
	unique := fs.String("unique", "", "deduplicate by this `key` while a task with it is pending or running")
	retries := fs.Int("max-retries", -1, "retries after a failed attempt (`N`); the task's when -1")
	timeout := fs.Duration("timeout", 0, "per-attempt `timeout`; the task's when 0")
	output := fs.String("o", "text", "output `format`: text or json")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return usageErr("want TASK and an optional JSON input")
	}
	input, err := readInput(pos, stdin)
	if err != nil {
		return err
	}
	b, err := openClient(ctx, &hf, &bf, stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	var opts []backends.SubmitOption
	if *queue != "" {
		opts = append(opts, backends.Queue(*queue))
	}
	if *delay > 0 {
		opts = append(opts, backends.Delay(*delay))
	}
	if *unique != "" {
		opts = append(opts, backends.UniqueKey(*unique))
	}
	if *retries >= 0 {
		opts = append(opts, backends.MaxRetries(*retries))
	}
	if *timeout > 0 {
		opts = append(opts, backends.Timeout(*timeout))
	}
	id, err := b.Submit(ctx, pos[0], input, opts...)
	if err != nil {
		return err
	}
	if !*wait {
		return printID(stdout, id, *output)
	}
	return waitAndPrint(ctx, b, id, 0, *output, stdout)
}

// openClient opens the engine for a client command. It loads the plugins,
// when there are any, to know the tasks' default queues and retries.
func openClient(ctx context.Context, hf *hostFlags, bf *backendFlags, stderr io.Writer) (backends.Backend, error) {
	b, err := bf.open(ctx, hf, stderr)
	if err != nil {
		return nil, err
	}
	if h, err := hf.load(ctx, stderr); err == nil {
		err = b.Register(specs(h)...)
		h.Close(context.Background())
		if err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// inputArg returns a command's JSON input argument (pos[1]): standard
// input for "-", {} when absent. It does not validate it.
func inputArg(pos []string, stdin io.Reader) (string, error) {
	input := "{}"
	if len(pos) == 2 {
		input = pos[1]
	}
	if input == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", fmt.Errorf("reading the input: %w", err)
		}
		input = strings.TrimSpace(string(b))
	}
	return input, nil
}

// readInput is inputArg for commands that hand the input to an engine:
// it must be a JSON document.
func readInput(pos []string, stdin io.Reader) (json.RawMessage, error) {
	input, err := inputArg(pos, stdin)
	if err != nil {
		return nil, err
	}
	if !json.Valid([]byte(input)) {
		return nil, usageErr("the input %q is not a JSON document", truncateString(input, 60))
	}
	return json.RawMessage(input), nil
}

// printID prints a submitted task's or workflow's id.
func printID(w io.Writer, id, format string) error {
	if format == "json" {
		return writeJSON(w, map[string]string{"id": id})
	}
	_, err := fmt.Fprintln(w, id)
	return err
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func waitAndPrint(ctx context.Context, b backends.Backend, id string, timeout time.Duration, format string, stdout io.Writer) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	r, err := b.Wait(ctx, id)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("task %s is still %s after %s", id, r.Status, timeout)
		}
		return err
	}
	if err := writeResult(stdout, r, format); err != nil {
		return err
	}
	if r.Status != backends.StatusSucceeded {
		return fmt.Errorf("task %s %s", id, r.Status)
	}
	return nil
}

const resultSynopsis = `Usage: host result|wait [flags] ID

result prints a task's state now; wait blocks until it is done (exit 1 if it
did not succeed).`

func cmdResult(ctx context.Context, wait bool, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	name := "host result"
	if wait {
		name = "host wait"
	}
	fs := newFlagSet(name, resultSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	output := fs.String("o", "text", "output `format`: text or json")
	timeout := fs.Duration("timeout", 0, "give up waiting after this `duration` (wait only)")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageErr("want one task ID")
	}
	b, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	if wait {
		return waitAndPrint(ctx, b, pos[0], *timeout, *output, stdout)
	}
	r, err := b.Result(ctx, pos[0])
	if err != nil {
		return err
	}
	return writeResult(stdout, r, *output)
}

const tasksSynopsis = `Usage: host tasks [flags]

Lists the tasks of the loaded plugins with their queue, retries and timeout.`

func cmdTasks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	fs := newFlagSet("host tasks", tasksSynopsis, stderr)
	hf.register(fs)
	output := fs.String("o", "text", "output `format`: text or json")
	if pos, err := hf.parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("unexpected arguments %q", pos)
	}
	h, err := hf.load(ctx, stderr)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	var list []taskInfo
	plugins := map[string]string{}
	for _, t := range h.Tasks() {
		list = append(list, taskInfo{t.Name, t.Function, t.Queue, t.MaxRetries, t.Timeout.String(), t.Description})
		plugins[t.Name] = t.Plugin.Name
	}
	if *output == "json" {
		return writeJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tPLUGIN\tQUEUE\tRETRIES\tTIMEOUT\tDESCRIPTION")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", t.Name, plugins[t.Name], t.Queue, t.MaxRetries, t.Timeout, t.Description)
	}
	return tw.Flush()
}

const healthSynopsis = `Usage: host health [flags]

Checks the configuration, the plugins and the engine, prints each check's
name, status, message and duration, and exits 0 if all passed, 1 if not.`

func cmdHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host health", healthSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	output := fs.String("o", "text", "output `format`: text or json")
	if pos, err := hf.parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("unexpected arguments %q", pos)
	}
	var checks []check
	start := time.Now()
	_, err := hf.config(stderr)
	checks = append(checks, check{Name: "config", OK: err == nil, Message: errMessage(err, "flags and environment valid"), Duration: time.Since(start)})
	if err == nil {
		start = time.Now()
		h, err := hf.load(ctx, stderr)
		if err != nil {
			checks = append(checks, check{Name: "plugins", Message: err.Error(), Duration: time.Since(start)})
		} else {
			checks = append(checks, pluginsCheck(h, time.Since(start)))
			h.Close(context.Background())
		}
	}
	start = time.Now()
	b, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		checks = append(checks, check{Name: "engine", Message: err.Error(), Duration: time.Since(start)})
	} else {
		checks = append(checks, probeEngine(ctx, b))
		b.Close()
	}
	ok := true
	for _, c := range checks {
		ok = ok && c.OK
	}
	if *output == "json" {
		writeJSON(stdout, map[string]any{"ok": ok, "checks": checks})
	} else {
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tSTATUS\tDURATION\tMESSAGE")
		for _, c := range checks {
			status := "ok"
			if !c.OK {
				status = "FAIL"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, status, c.Duration.Round(time.Microsecond), c.Message)
		}
		tw.Flush()
	}
	if !ok {
		return errors.New("a check failed")
	}
	return nil
}

func errMessage(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}
