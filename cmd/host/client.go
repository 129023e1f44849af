package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"taskhost.dev/backends"
	"taskhost.dev/worker"
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
	timeout := fs.Duration("timeout", 0, "the task's per-attempt timeout (`duration`); the task's own when 0")
	waitTimeout := fs.Duration("wait-timeout", 0, "with --wait, give up waiting after this `duration` (the task goes on)")
	output := fs.String("o", "text", "output `format`: text or json")
	batch := fs.String("batch", "", "submit the JSON lines of this `file` (- for standard input), one task a line: {\"task\":..., \"input\":..., \"queue\", \"max_retries\", \"timeout\", \"delay\", \"unique_key\"}; prints one id a line")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*output); err != nil {
		return err
	}
	switch {
	case *retries < -1:
		return usageErr("--max-retries %d: want 0 or more (-1, the default, keeps the task's)", *retries)
	case *timeout < 0:
		return usageErr("--timeout %s: want a positive duration", *timeout)
	case *delay < 0:
		return usageErr("--delay %s: want a positive duration", *delay)
	case *waitTimeout < 0 || (*waitTimeout > 0 && !*wait):
		return usageErr("--wait-timeout %s: want a positive duration, with --wait", *waitTimeout)
	}
	if *batch != "" {
		if len(pos) > 0 || *wait {
			return usageErr("--batch takes no TASK argument and no --wait")
		}
		c, err := openClient(ctx, &hf, &bf, stderr)
		if err != nil {
			return err
		}
		defer c.Close()
		return submitBatch(ctx, c, *batch, stdin, *output, stdout, stderr)
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
	warnUnserved(ctx, b, pos[0], *queue, stderr)
	if !*wait {
		return printID(stdout, id, *output)
	}
	return waitAndPrint(ctx, b, id, *waitTimeout, *output, stdout, stderr)
}

// openClient opens the engine for a client command, with the plugins'
// tasks registered so that their default queues and retries apply.
func openClient(ctx context.Context, hf *hostFlags, bf *backendFlags, stderr io.Writer) (*backends.Client, error) {
	h, err := hf.loadTasks(ctx, stderr)
	if err != nil {
		return nil, fmt.Errorf("loading the plugins to learn the tasks' queues and retries: %w", err)
	}
	tasks := worker.Specs(h)
	h.Close(context.Background())
	c, err := bf.open(ctx, hf, stderr)
	if err != nil {
		return nil, err
	}
	if err := c.Register(ctx, tasks...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
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

// showProgress draws the task's progress on a terminal's standard error
// while it is waited for, reading it every 300 ms; the returned stop ends
// the drawing and clears its line.
func showProgress(ctx context.Context, c *backends.Client, id string, stderr io.Writer) (stop func()) {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		drawn := false
		t := time.NewTicker(300 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if drawn {
					fmt.Fprint(stderr, "\r\033[K")
				}
				return
			case <-t.C:
			}
			if r, err := c.Result(ctx, id); err == nil && r.Progress != nil && !r.Status.Done() {
				pct := min(max(r.Progress.Percent, 0), 100)
				fmt.Fprintf(stderr, "\r\033[K%s %3.0f%% %s", bar(int(pct), 100, 30), pct, truncateString(r.Progress.Message, 40))
				drawn = true
			}
		}
	}()
	return func() { cancel(); <-done }
}

// warnUnserved warns, where the engine can tell, that no worker serves the
// queue a task went to: it waits until one does.
func warnUnserved(ctx context.Context, c *backends.Client, task, queue string, stderr io.Writer) {
	if queue == "" {
		for _, s := range c.Tasks() {
			if s.Name == task {
				queue = s.Queue
			}
		}
	}
	if queue == "" {
		return
	}
	if n, known, err := c.Workers(ctx, queue); err == nil && known && n == 0 {
		fmt.Fprintf(stderr, "warning: no worker serves queue %q now; the task waits until one does (host worker --queues %s)\n", queue, queue)
	}
}

func orPending(s backends.Status) backends.Status {
	if s == "" {
		return backends.StatusPending
	}
	return s
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func waitAndPrint(ctx context.Context, b *backends.Client, id string, timeout time.Duration, format string, stdout, stderr io.Writer) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if format == "text" {
		defer showProgress(ctx, b, id, stderr)()
	}
	r, err := b.Wait(ctx, id)
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("task %s is still %s after waiting %s; it goes on: host wait %s", id, orPending(r.Status), timeout, id)
		case errors.Is(err, context.Canceled):
			return fmt.Errorf("stopped waiting for task %s (%s); it goes on: host wait %s", id, orPending(r.Status), id)
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

const resultSynopsis = `Usage: host result [flags] ID
       host wait [flags] ID...

result prints a task's state now; wait blocks until it is done (exit 1 if it
did not succeed). wait takes several ids, printing each result as it comes
(one JSON object a line with -o json).`

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
	var timeout *time.Duration
	if wait {
		timeout = fs.Duration("timeout", 0, "give up waiting after this `duration` (the task goes on)")
	}
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*output); err != nil {
		return err
	}
	if len(pos) == 0 || (!wait && len(pos) != 1) {
		fs.Usage()
		return usageErr("want a task ID (wait takes several)")
	}
	b, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	if wait && len(pos) > 1 {
		return waitMany(ctx, b, pos, *timeout, *output, stdout)
	}
	if wait {
		if *timeout < 0 {
			return usageErr("--timeout %s: want a positive duration", *timeout)
		}
		return waitAndPrint(ctx, b, pos[0], *timeout, *output, stdout, stderr)
	}
	r, err := b.Result(ctx, pos[0])
	if err != nil {
		return err
	}
	return writeResult(stdout, r, *output)
}

// waitMany waits for every task, with one client, and prints each result
// (with -o json one object a line); it fails unless all succeeded.
func waitMany(ctx context.Context, c *backends.Client, ids []string, timeout time.Duration, format string, stdout io.Writer) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	failed := 0
	for _, id := range ids {
		r, err := c.Wait(ctx, id)
		if err != nil {
			return fmt.Errorf("waiting for task %s: %w", id, err)
		}
		if r.Status != backends.StatusSucceeded {
			failed++
		}
		if format == "json" {
			b, _ := json.Marshal(r)
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%d attempts\n", r.ID, r.Task, r.Status, r.Attempts)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tasks did not succeed", failed, len(ids))
	}
	return nil
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
	if err := checkFormat(*output); err != nil {
		return err
	}
	h, err := hf.loadTasks(ctx, stderr)
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
	if err := checkFormat(*output); err != nil {
		return err
	}
	var checks []worker.Check
	start := time.Now()
	_, err := hf.config(stderr)
	if err == nil {
		err = bf.check()
	}
	checks = append(checks, worker.Check{Name: "config", OK: err == nil, Message: errMessage(err, "flags and environment valid"), Duration: time.Since(start)})
	if err == nil {
		start = time.Now()
		h, err := hf.load(ctx, stderr)
		if err != nil {
			checks = append(checks, worker.Check{Name: "plugins", Message: err.Error(), Duration: time.Since(start)})
		} else {
			c := worker.PluginsCheck(h, time.Since(start))
			if err := problemsError(h); err != nil {
				c.OK, c.Message = false, c.Message+"; "+strings.ReplaceAll(err.Error(), "\n", "; ")
			}
			checks = append(checks, c)
			h.Close(context.Background())
		}
	}
	start = time.Now()
	b, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		checks = append(checks, worker.Check{Name: "engine", Message: err.Error(), Duration: time.Since(start)})
	} else {
		checks = append(checks, worker.ProbeEngine(ctx, b))
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
