package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"taskhost.dev/backends"
)

const lsSynopsis = `Usage: host ls [--state S] [--queue Q] [--task T] [--since D] [--limit N] [--cursor C]

Lists tasks, newest first: their id, task, queue, status, attempts and when
they were enqueued. --state is repeatable or comma-separated (pending,
running, retrying, succeeded, failed, cancelled); --since is a duration
back from now (1h) or a time (2026-12-01T10:00:00Z). When more tasks match
than --limit, the last line gives the --cursor of the next page.`

func cmdLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host ls", lsSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	var states []backends.Status
	fs.Func("state", "keep tasks in this `state`, repeatable or comma-separated", func(v string) error {
		for _, s := range splitList(v) {
			st, err := backends.ParseStatus(s)
			if err != nil {
				return err
			}
			states = append(states, st)
		}
		return nil
	})
	queue := fs.String("queue", "", "keep tasks of this `queue`")
	task := fs.String("task", "", "keep tasks of this `task`")
	since := fs.String("since", "", "keep tasks enqueued since this `time` or duration ago")
	limit := fs.Int("limit", backends.DefaultListLimit, fmt.Sprintf("list at most `N` tasks (1 to %d)", backends.MaxListLimit))
	cursor := fs.String("cursor", "", "continue a listing from this `cursor` (the next page a listing printed)")
	output := fs.String("o", "text", "output `format`: text or json")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*output); err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected arguments %q", pos)
	}
	if *limit < 1 || *limit > backends.MaxListLimit {
		return usageErr("--limit %d: want 1 to %d", *limit, backends.MaxListLimit)
	}
	f := backends.ListFilter{States: states, Queue: *queue, Task: *task, Limit: *limit, Cursor: *cursor}
	if *since != "" {
		if d, err := time.ParseDuration(*since); err == nil && d > 0 {
			f.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, *since); err == nil {
			f.Since = t
		} else {
			return usageErr("--since %q: want a duration back from now (1h, 30m) or an RFC 3339 time (2026-12-01T10:00:00Z)", *since)
		}
	}
	c, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	page, err := c.List(ctx, f)
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(stdout, page)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTASK\tQUEUE\tSTATUS\tATTEMPTS\tENQUEUED\tERROR")
	for _, r := range page.Tasks {
		errText := "-"
		if r.Error != nil {
			errText = truncateString(string(r.Error.Kind)+": "+r.Error.Message, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Task, r.Queue, r.Status, r.Attempts, stamp(r.EnqueuedAt), errText)
	}
	tw.Flush()
	if page.Next != "" {
		fmt.Fprintf(stdout, "more: host ls --cursor %s (with the same filters)\n", page.Next)
	}
	return nil
}

const retrySynopsis = `Usage: host retry ID...

Runs failed or cancelled tasks again, under the same ids.`

func cmdRetry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host retry", retrySynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageErr("want one or more task IDs")
	}
	c, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	failed := 0
	for _, id := range pos {
		if err := c.Retry(ctx, id); err != nil {
			failed++
			fmt.Fprintf(stdout, "%s\t%v\n", id, err)
			continue
		}
		fmt.Fprintf(stdout, "%s\tretrying\n", id)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tasks not retried", failed, len(pos))
	}
	return nil
}

const purgeSynopsis = `Usage: host purge [--yes] QUEUE

Deletes the tasks of QUEUE that wait to run (pending, scheduled, waiting for
a retry); running and finished ones are left. Asks first, unless --yes.`

func cmdPurge(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host purge", purgeSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	yes := fs.Bool("yes", false, "do not ask")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageErr("want one QUEUE")
	}
	queue := pos[0]
	if !*yes {
		f, ok := stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return usageErr("purging queue %q deletes its waiting tasks: confirm with --yes (standard input is not a terminal to ask on)", queue)
		}
		fmt.Fprintf(stderr, "Delete every waiting task of queue %q? Type the queue's name to confirm: ", queue)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != queue {
			return fmt.Errorf("not confirmed; nothing deleted")
		}
	}
	c, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	n, err := c.Purge(ctx, queue)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "purged %d tasks from queue %s\n", n, queue)
	return nil
}

const queuesSynopsis = `Usage: host queues

Lists the engine's queues with their tasks counted by state, and the workers
serving each where the engine knows.`

func cmdQueues(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host queues", queuesSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	output := fs.String("o", "text", "output `format`: text or json")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*output); err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected arguments %q", pos)
	}
	c, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	stats, err := c.QueueStats(ctx)
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(stdout, stats)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tPENDING\tRUNNING\tRETRYING\tSUCCEEDED\tFAILED\tCANCELLED\tWORKERS")
	for _, s := range stats {
		workers := "?"
		if s.Workers >= 0 {
			workers = fmt.Sprint(s.Workers)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Queue, s.Pending, s.Running, s.Retrying, s.Succeeded, s.Failed, s.Cancelled, workers)
	}
	return tw.Flush()
}
