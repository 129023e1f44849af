package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"taskhost.dev/backends"
)

// batchLine is one line of a --batch file.
type batchLine struct {
	Task       string          `json:"task"`
	Input      json.RawMessage `json:"input"`
	Queue      string          `json:"queue"`
	MaxRetries *int            `json:"max_retries"`
	Timeout    string          `json:"timeout"`
	Delay      string          `json:"delay"`
	UniqueKey  string          `json:"unique_key"`
}

// readBatch reads JSON lines of batchLine; every line is checked before
// any is submitted, and an error names its line.
func readBatch(r io.Reader, name string) ([]backends.Submission, error) {
	var out []backends.Submission
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var l batchLine
		d := json.NewDecoder(bytes.NewReader(line))
		d.DisallowUnknownFields()
		if err := d.Decode(&l); err != nil {
			return nil, usageErr("%s:%d: %v; want {\"task\": ..., \"input\": ..., \"queue\", \"max_retries\", \"timeout\", \"delay\", \"unique_key\"}", name, n, err)
		}
		if l.Task == "" {
			return nil, usageErr("%s:%d: no \"task\"", name, n)
		}
		s := backends.Submission{Task: l.Task, Input: l.Input}
		if len(s.Input) == 0 {
			s.Input = json.RawMessage("{}")
		}
		if l.Queue != "" {
			s.Options = append(s.Options, backends.Queue(l.Queue))
		}
		if l.MaxRetries != nil {
			s.Options = append(s.Options, backends.MaxRetries(*l.MaxRetries))
		}
		for _, d := range []struct {
			text string
			opt  func(time.Duration) backends.SubmitOption
			key  string
		}{{l.Timeout, backends.Timeout, "timeout"}, {l.Delay, backends.Delay, "delay"}} {
			if d.text == "" {
				continue
			}
			v, err := time.ParseDuration(d.text)
			if err != nil {
				return nil, usageErr("%s:%d: %s %q is not a duration (e.g. 30s, 5m)", name, n, d.key, d.text)
			}
			s.Options = append(s.Options, d.opt(v))
		}
		if l.UniqueKey != "" {
			s.Options = append(s.Options, backends.UniqueKey(l.UniqueKey))
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}

// submitBatch submits a --batch file and prints one id a line (objects with
// -o json), drawing a progress bar on a terminal's standard error for large
// batches.
func submitBatch(ctx context.Context, c *backends.Client, file string, stdin io.Reader, format string, stdout, stderr io.Writer) error {
	r, name := stdin, "stdin"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return usageErr("--batch: %v", err)
		}
		defer f.Close()
		r, name = f, file
	}
	batch, err := readBatch(r, name)
	if err != nil {
		return err
	}
	var opts []backends.BatchOption
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && len(batch) >= 100 {
		opts = append(opts, backends.BatchProgress(func(done, total int) {
			if done%50 == 0 || done == total {
				fmt.Fprintf(stderr, "\r%s %d/%d", bar(done, total, 30), done, total)
				if done == total {
					fmt.Fprintln(stderr)
				}
			}
		}))
	}
	ids, err := c.SubmitMany(ctx, batch, opts...)
	if err != nil {
		if be, ok := err.(*backends.BatchError); ok && be.Index >= 0 {
			return fmt.Errorf("%s: entry %d (line order, from 1: %d): %w", name, be.Index, be.Index+1, err)
		}
		return err
	}
	for i, id := range ids {
		if format == "json" {
			b, _ := json.Marshal(map[string]any{"index": i, "id": id, "task": batch[i].Task})
			fmt.Fprintf(stdout, "%s\n", b)
			continue
		}
		fmt.Fprintln(stdout, id)
	}
	return nil
}

func bar(done, total, width int) string {
	n := width * done / max(total, 1)
	b := make([]byte, width)
	for i := range b {
		b[i] = '.'
		if i < n {
			b[i] = '#'
		}
	}
	return "[" + string(b) + "]"
}
