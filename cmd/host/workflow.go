package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/worker"
)

const workflowSynopsis = `Usage: host workflow submit NAME [JSON] [--wait]
       host workflow status ID [--wait]
       host workflow cancel ID
       host workflow list

submit starts a workflow defined in the manifest ([[workflow]]) and prints
its id at once; with --wait it shows each step as it finishes and then the
result (exit 1 unless it succeeded). status prints a workflow's steps. cancel
stops a workflow: its pending steps never run, its running ones are stopped.`

func cmdWorkflow(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host workflow", workflowSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	wait := fs.Bool("wait", false, "wait until the workflow is done, showing its steps as they finish")
	output := fs.String("o", "text", "output `format`: text or json")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*output); err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageErr("want submit, status, cancel or list")
	}
	switch pos[0] {
	case "list":
		h, err := hf.loadTasks(ctx, stderr)
		if err != nil {
			return err
		}
		defer h.Close(context.Background())
		if *output == "json" {
			type listed struct {
				backends.Workflow
				Description string `json:"description,omitempty"`
			}
			var out []listed
			for _, w := range h.Workflows() {
				wf, err := worker.Workflow(w)
				if err != nil {
					return err
				}
				out = append(out, listed{wf, w.Description})
			}
			return writeJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "WORKFLOW\tSTEPS\tDESCRIPTION")
		for _, w := range h.Workflows() {
			wf, _ := worker.Workflow(w)
			fmt.Fprintf(tw, "%s\t%s\t%s\n", w.Name, describeStages(wf), w.Description)
		}
		return tw.Flush()
	case "submit":
		if len(pos) < 2 || len(pos) > 3 {
			return usageErr("want submit NAME [JSON]")
		}
		h, err := hf.loadTasks(ctx, stderr)
		if err != nil {
			return err
		}
		spec, ok := h.Workflow(pos[1])
		if !ok {
			h.Close(context.Background())
			return fmt.Errorf("no workflow %q in the manifest; host workflow list shows them", pos[1])
		}
		tasks := worker.Specs(h)
		h.Close(context.Background())
		wf, err := worker.Workflow(spec)
		if err != nil {
			return err
		}
		input, err := readInput(pos[1:], stdin)
		if err != nil {
			return err
		}
		b, err := bf.open(ctx, &hf, stderr)
		if err != nil {
			return err
		}
		defer b.Close()
		if err := b.Register(ctx, tasks...); err != nil {
			return err
		}
		id, err := b.SubmitWorkflow(ctx, wf, input)
		if err != nil {
			return err
		}
		if !*wait {
			return printID(stdout, id, *output)
		}
		return watchWorkflow(ctx, b, id, *output, stdout)
	case "cancel":
		if len(pos) != 2 {
			return usageErr("want cancel ID")
		}
		b, err := bf.open(ctx, &hf, stderr)
		if err != nil {
			return err
		}
		defer b.Close()
		if err := b.CancelWorkflow(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "workflow %s cancelled\n", pos[1])
		return nil
	case "status":
		if len(pos) != 2 {
			return usageErr("want status ID")
		}
		b, err := bf.open(ctx, &hf, stderr)
		if err != nil {
			return err
		}
		defer b.Close()
		if *wait {
			return watchWorkflow(ctx, b, pos[1], *output, stdout)
		}
		r, err := b.WorkflowResult(ctx, pos[1])
		if err != nil {
			return err
		}
		return writeWorkflow(stdout, r, *output)
	}
	return usageErr("unknown subcommand %q; want submit, status, cancel or list", pos[0])
}

func describeStages(wf backends.Workflow) string {
	s := ""
	for i, st := range wf.Stages {
		if i > 0 {
			s += " -> "
		}
		if len(st.Steps) == 1 {
			s += st.Steps[0].Task
			continue
		}
		s += "["
		for j, step := range st.Steps {
			if j > 0 {
				s += " | "
			}
			s += step.Task
		}
		s += "]"
	}
	return s
}

// watchWorkflow waits for the workflow; in text mode it prints each step
// as it finishes (reading the workflow's state every 200 ms).
func watchWorkflow(ctx context.Context, w *backends.Client, id, format string, stdout io.Writer) error {
	var r backends.WorkflowResult
	var err error
	if format == "json" {
		r, err = w.WaitWorkflow(ctx, id)
	} else {
		fmt.Fprintf(stdout, "workflow %s\n", id)
		shown := map[string]bool{}
		for {
			r, err = w.WorkflowResult(ctx, id)
			if err != nil {
				return err
			}
			for _, s := range r.Steps {
				key := fmt.Sprintf("%d/%d", s.Stage, s.Index)
				if s.Status.Done() && !shown[key] {
					shown[key] = true
					fmt.Fprintf(stdout, "  step %d.%d %-14s %-9s task %s\n", s.Stage+1, s.Index+1, s.Task, s.Status, s.TaskID)
				}
			}
			if r.Status.Done() {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if err != nil {
		return err
	}
	if err := writeWorkflow(stdout, r, format); err != nil {
		return err
	}
	if r.Status != backends.StatusSucceeded {
		return fmt.Errorf("workflow %s %s", id, r.Status)
	}
	return nil
}

func writeWorkflow(w io.Writer, r backends.WorkflowResult, format string) error {
	if format == "json" {
		return writeJSON(w, r)
	}
	fmt.Fprintf(w, "workflow  %s (%s)\nstatus    %s\n", r.Workflow, r.ID, r.Status)
	if !r.FinishedAt.IsZero() {
		fmt.Fprintf(w, "took      %s\n", r.FinishedAt.Sub(r.EnqueuedAt).Round(time.Millisecond))
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tTASK\tSTATUS\tTASK ID\tOUTPUT OR ERROR")
	for _, s := range r.Steps {
		detail := string(s.Output)
		if s.Error != nil {
			detail = string(s.Error.Kind) + ": " + s.Error.Message
		}
		fmt.Fprintf(tw, "  %d.%d\t%s\t%s\t%s\t%s\n", s.Stage+1, s.Index+1, s.Task, s.Status, s.TaskID, truncateString(detail, 80))
	}
	tw.Flush()
	if r.Error != nil {
		fmt.Fprintf(w, "error     %s: %s\n", r.Error.Kind, r.Error.Message)
	}
	if len(r.Output) > 0 {
		fmt.Fprintf(w, "output    %s\n", r.Output)
	}
	return nil
}
