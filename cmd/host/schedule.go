package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"taskhost.dev/backends"
)

const scheduleSynopsis = `Usage: host schedule ls
       host schedule add NAME TASK [JSON] (--cron EXPR | --every DURATION) [--queue Q] [--timezone TZ]
       host schedule rm NAME

ls lists the deployment's schedules with each one's next run and the task id
of its last run; add creates (or replaces) a schedule; rm deletes one. Each
tick runs once however many workers run. A worker also makes the manifest's
[[schedule]] entries, and removes those the manifest no longer has.`

func cmdSchedule(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host schedule", scheduleSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	output := fs.String("o", "text", "output `format`: text or json")
	cronExpr := fs.String("cron", "", "add: a five-field cron `expression`, e.g. \"*/5 * * * *\"")
	every := fs.Duration("every", 0, "add: tick every `duration`, e.g. 30s")
	queue := fs.String("queue", "", "add: submit to this `queue` instead of the task's")
	tz := fs.String("timezone", "", "add: the IANA `zone` the cron expression is read in; UTC by default")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*output); err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageErr("want ls, add or rm")
	}
	switch pos[0] {
	case "ls", "list":
		if len(pos) != 1 {
			return usageErr("schedule ls takes no arguments")
		}
		c, err := bf.open(ctx, &hf, stderr)
		if err != nil {
			return err
		}
		defer c.Close()
		list, err := c.Schedules(ctx)
		if err != nil {
			return err
		}
		if *output == "json" {
			return writeJSON(stdout, list)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCHEDULE\tTASK\tWHEN\tNEXT RUN\tLAST RUN\tLAST TASK\tSOURCE")
		for _, s := range list {
			when := s.Cron
			if s.Every > 0 {
				when = "every " + s.Every.String()
			}
			if s.Timezone != "" {
				when += " (" + s.Timezone + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Task, when, stamp(s.NextRun), stamp(s.LastRun), dash(s.LastID), dash(s.Source))
		}
		return tw.Flush()
	case "add":
		if len(pos) < 3 || len(pos) > 4 {
			return usageErr("want schedule add NAME TASK [JSON]")
		}
		input, err := readInput(pos[2:], stdin)
		if err != nil {
			return err
		}
		c, err := openClient(ctx, &hf, &bf, stderr)
		if err != nil {
			return err
		}
		defer c.Close()
		s := backends.Schedule{Name: pos[1], Task: pos[2], Input: input, Cron: *cronExpr, Every: *every, Queue: *queue, Timezone: *tz}
		if err := c.CreateSchedule(ctx, s); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "schedule %s created\n", s.Name)
		return nil
	case "rm", "delete":
		if len(pos) != 2 {
			return usageErr("want schedule rm NAME")
		}
		c, err := bf.open(ctx, &hf, stderr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.DeleteSchedule(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "schedule %s deleted\n", pos[1])
		return nil
	}
	return usageErr("unknown subcommand %q; want ls, add or rm", pos[0])
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
