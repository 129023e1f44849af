package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"taskhost.dev/backends"
)

const cancelSynopsis = `Usage: host cancel [flags] ID...

Cancels tasks with the engine's own mechanism: a pending or scheduled task
never runs; a running one is stopped and ends cancelled, not retried. A task
already done is left as it is. Prints one line per id; exits 1 unless every
task was cancelled.`

func cmdCancel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host cancel", cancelSynopsis, stderr)
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
	if len(pos) == 0 {
		fs.Usage()
		return usageErr("want one or more task IDs")
	}
	c, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	type outcome struct {
		ID        string `json:"id"`
		Cancelled bool   `json:"cancelled"`
		Message   string `json:"message"`
	}
	var out []outcome
	failed := 0
	for _, id := range pos {
		o := outcome{ID: id, Cancelled: true, Message: "cancelled"}
		if err := c.Cancel(ctx, id); err != nil {
			failed++
			o.Cancelled, o.Message = false, err.Error()
			switch {
			case errors.Is(err, backends.ErrFinished):
				o.Message = "already done; left as it is (" + err.Error() + ")"
			case errors.Is(err, backends.ErrUnsupported):
				return err
			}
		}
		out = append(out, o)
	}
	if *output == "json" {
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
	} else {
		for _, o := range out {
			fmt.Fprintf(stdout, "%s\t%s\n", o.ID, o.Message)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tasks not cancelled", failed, len(pos))
	}
	return nil
}

// checkFormat refuses an -o value other than text or json.
func checkFormat(f string) error {
	if f != "text" && f != "json" {
		return usageErr("-o %q: want text or json", f)
	}
	return nil
}
