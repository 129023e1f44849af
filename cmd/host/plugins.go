package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"taskhost.dev/host"
)

const pluginsSynopsis = `Usage: host plugins list|verify|pin [flags]

  list    the plugins (path, sha256, ABI, limits, capabilities) and their tasks
  verify  load and check every plugin, drop-ins included: digest, ABI version, exports; exit 1 on any problem
  pin     pin each manifest plugin's sha256 in the manifest: an operator's own, for a deployment`

func cmdPlugins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	fs := newFlagSet("host plugins", pluginsSynopsis, stderr)
	hf.register(fs)
	output := fs.String("o", "text", "output `format` of list: text or json")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageErr("want one of list, verify or pin")
	}
	if *output != "text" && *output != "json" {
		return usageErr("-o %q: want text or json", *output)
	}
	switch pos[0] {
	case "list":
		h, err := hf.load(ctx, stderr)
		if err != nil {
			return err
		}
		defer h.Close(context.Background())
		if *output == "json" {
			return writeJSON(stdout, describe(h))
		}
		printPlugins(stdout, h)
		return nil
	case "verify":
		start := time.Now()
		h, err := hf.load(ctx, stderr)
		if err != nil {
			return fmt.Errorf("verification failed:\n%w", err)
		}
		defer h.Close(context.Background())
		if err := problemsError(h); err != nil {
			return fmt.Errorf("verification failed:\n%w", err)
		}
		for _, p := range h.Plugins() {
			if p.ABI == 0 {
				fmt.Fprintf(stdout, "note: plugin %q is a plain Extism plugin (no %s export); its tasks come from the manifest\n", p.Name, "taskhost_meta")
			}
		}
		fmt.Fprintf(stdout, "ok: %d plugins, %d tasks verified in %s\n", len(h.Plugins()), len(h.Tasks()), time.Since(start).Round(time.Millisecond))
		return nil
	case "pin":
		changed, err := host.PinManifest(hf.manifest)
		if err != nil {
			return err
		}
		for _, c := range changed {
			fmt.Fprintf(stdout, "pinned %s\n", c)
		}
		if len(changed) == 0 {
			fmt.Fprintf(stdout, "%s: every sha256 is up to date\n", hf.manifest)
		}
		return nil
	}
	return usageErr("unknown subcommand %q; want list, verify or pin", pos[0])
}

// problemsError joins the drop-ins that did not load (host.Problems), or
// returns nil. The serving commands (run, plugins list, tasks) serve the
// other plugins, after the host's warning about each; the checking ones
// (plugins verify, health) fail on them.
func problemsError(h *host.Host) error {
	var errs []error
	for _, p := range h.Problems() {
		errs = append(errs, fmt.Errorf("not loaded: %w", p))
	}
	return errors.Join(errs...)
}

type pluginInfo struct {
	Name         string            `json:"name"`
	Path         string            `json:"path"`
	SHA256       string            `json:"sha256"`
	Linked       []moduleInfo      `json:"linked,omitempty"`
	ABI          int               `json:"abi"`
	Limits       map[string]any    `json:"limits"`
	Capabilities host.Capabilities `json:"capabilities"`
	Tasks        []taskInfo        `json:"tasks"`
}

// moduleInfo is one of the other modules of a multi-module plugin.
type moduleInfo struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

type taskInfo struct {
	Name        string `json:"name"`
	Function    string `json:"function"`
	Queue       string `json:"queue"`
	MaxRetries  int    `json:"max_retries"`
	Timeout     string `json:"timeout"`
	Description string `json:"description,omitempty"`
}

func describe(h *host.Host) []pluginInfo {
	var out []pluginInfo
	for _, p := range h.Plugins() {
		l := p.Limits
		pi := pluginInfo{Name: p.Name, Path: p.Path, SHA256: p.SHA256, ABI: p.ABI, Capabilities: p.Capabilities,
			Limits: map[string]any{"max_memory": l.MaxMemory.String(), "timeout": l.Timeout.String(), "max_output": l.MaxOutput.String(),
				"pool_size": l.PoolSize, "isolation": l.Isolation, "max_uses": l.MaxUses,
				"max_log_bytes": l.MaxLogBytes.String(), "max_log_lines": l.MaxLogLines}}
		for _, m := range p.Linked {
			pi.Linked = append(pi.Linked, moduleInfo{m.Name, m.Path, m.SHA256})
		}
		for _, t := range p.Tasks {
			pi.Tasks = append(pi.Tasks, taskInfo{t.Name, t.Function, t.Queue, t.MaxRetries, t.Timeout.String(), t.Description})
		}
		out = append(out, pi)
	}
	return out
}

func printPlugins(w io.Writer, h *host.Host) {
	for i, p := range describe(h) {
		if i > 0 {
			fmt.Fprintln(w)
		}
		abi := fmt.Sprint(p.ABI)
		if p.ABI == 0 {
			abi = "none (plain Extism plugin)"
		}
		fmt.Fprintf(w, "plugin %s\n  path     %s\n  sha256   %s\n", p.Name, p.Path, p.SHA256)
		for _, m := range p.Linked {
			fmt.Fprintf(w, "  links    %s from %s (sha256 %s)\n", m.Name, m.Path, m.SHA256)
		}
		fmt.Fprintf(w, "  abi      %s\n", abi)
		fmt.Fprintf(w, "  limits   max_memory=%v timeout=%v max_output=%v pool_size=%v isolation=%v max_uses=%v max_log_bytes=%v max_log_lines=%v\n",
			p.Limits["max_memory"], p.Limits["timeout"], p.Limits["max_output"], p.Limits["pool_size"], p.Limits["isolation"], p.Limits["max_uses"],
			p.Limits["max_log_bytes"], p.Limits["max_log_lines"])
		c := p.Capabilities
		if len(c.AllowedHosts)+len(c.AllowedPaths)+len(c.Env) > 0 {
			fmt.Fprintf(w, "  allows   hosts=%v paths=%v env=%v\n", c.AllowedHosts, c.AllowedPaths, c.Env)
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TASK\tFUNCTION\tQUEUE\tRETRIES\tTIMEOUT\tDESCRIPTION")
		for _, t := range p.Tasks {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\n", t.Name, t.Function, t.Queue, t.MaxRetries, t.Timeout, t.Description)
		}
		tw.Flush()
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
