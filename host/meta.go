package host

import (
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
)

// readTasks reads the module's own metadata, if it exports any, and merges
// it with the manifest's task entries and defaults. It returns the raw
// metadata too (nil when the module exports none), for the cache.
func (p *Plugin) readTasks(ctx context.Context, inst *instance, m *Manifest, spec *PluginSpec) ([]*Task, []byte, error) {
	var raw []byte
	if fn := inst.mod.ExportedFunction(abi.MetaExport); fn != nil {
		out, err := inst.callRaw(ctx, fn, abi.MetaExport, nil, time.Duration(p.Limits.Timeout))
		if err != nil {
			return nil, nil, fmt.Errorf("calling %s: %w", abi.MetaExport, err)
		}
		raw = out
	}
	tasks, err := p.buildTasks(raw, m, spec, func(name string) api.FunctionDefinition {
		if fn := inst.mod.ExportedFunction(name); fn != nil {
			return fn.Definition()
		}
		return nil
	})
	return tasks, raw, err
}

// buildTasks merges the module's raw metadata (nil for none) with the
// manifest's task entries and defaults. export looks a task's function up
// for checking; nil skips the check (a host loaded for its tasks only).
func (p *Plugin) buildTasks(raw []byte, m *Manifest, spec *PluginSpec, export func(string) api.FunctionDefinition) ([]*Task, error) {
	var meta abi.Meta
	if raw != nil {
		var err error
		if meta, err = abi.ParseMeta(raw); err != nil {
			return nil, err
		}
		p.ABI = meta.ABI
		if spec.Name == "" && meta.Plugin != "" {
			p.Name = meta.Plugin
		}
	}

	queue := m.Defaults.Queue
	if queue == "" {
		queue = "default"
	}
	retries := 3
	if m.Defaults.MaxRetries != nil {
		retries = *m.Defaults.MaxRetries
	}
	var tasks []*Task
	byName := map[string]*Task{}
	for _, tm := range meta.Tasks {
		t := &Task{Name: tm.Name, Function: tm.Function, Description: tm.Description, Queue: tm.Queue,
			MaxRetries: retries, Timeout: time.Duration(p.Limits.Timeout), Plugin: p}
		if tm.MaxRetries != nil {
			t.MaxRetries = *tm.MaxRetries
		}
		if tm.Timeout != "" {
			t.Timeout, _ = time.ParseDuration(tm.Timeout) // validated by ParseMeta
		}
		tasks = append(tasks, t)
		byName[t.Name] = t
	}
	for _, ts := range spec.Tasks {
		t, ok := byName[ts.Name]
		if !ok {
			t = &Task{Name: ts.Name, MaxRetries: retries, Timeout: time.Duration(p.Limits.Timeout), Plugin: p}
			tasks = append(tasks, t)
			byName[t.Name] = t
		}
		if ts.Function != "" {
			t.Function = ts.Function
		}
		if ts.Description != "" {
			t.Description = ts.Description
		}
		if ts.Queue != "" {
			t.Queue = ts.Queue
		}
		if ts.MaxRetries != nil {
			t.MaxRetries = *ts.MaxRetries
		}
		if ts.Timeout > 0 {
			t.Timeout = time.Duration(ts.Timeout)
		}
		if ts.RetryDelay > 0 {
			t.Retry.Delay = time.Duration(ts.RetryDelay)
		}
		if ts.RetryMaxDelay > 0 {
			t.Retry.MaxDelay = time.Duration(ts.RetryMaxDelay)
		}
		if ts.RetryBackoff != "" {
			t.Retry.Fixed = ts.RetryBackoff == "fixed"
		}
		if ts.RetryJitter > 0 {
			t.Retry.Jitter = ts.RetryJitter
		}
		t.textIn = ts.Input == "text"
		t.textOut = ts.Output == "text"
	}
	if len(tasks) == 0 {
		if spec.index < 0 {
			return nil, fmt.Errorf("the module has no %s export and no manifest entry: add a [[plugin]] entry whose [[plugin.task]] entries name its functions, or build it with the taskhost SDK", abi.MetaExport)
		}
		return nil, fmt.Errorf("declares no tasks: a plain Extism plugin needs [[plugin.task]] entries naming its functions")
	}
	for i, t := range tasks {
		t.index = i
		if t.Function == "" {
			t.Function = t.Name
		}
		if t.Queue == "" {
			t.Queue = queue
		}
		t.command = t.Function == commandEntry
		t.stdoutOut = t.command && t.textOut
		if export == nil {
			continue
		}
		if err := checkExport(export(t.Function), t); err != nil {
			return nil, err
		}
	}
	return tasks, nil
}

// commandEntry is the entry point of a WASI command module. A task whose
// function it is runs the command: its input is also its stdin, exit(0) is
// success, another exit code a failure with that code, and with output =
// "text" its stdout is its output, unless it sets an Extism output.
const commandEntry = "_start"

// checkExport makes sure def exists and has an Extism function's type.
func checkExport(def api.FunctionDefinition, t *Task) error {
	if def == nil {
		return fmt.Errorf("task %q: the module exports no function %q; fix function in the manifest or rebuild the plugin", t.Name, t.Function)
	}
	res := def.ResultTypes()
	if len(def.ParamTypes()) != 0 || len(res) > 1 || (len(res) == 1 && res[0] != api.ValueTypeI32) {
		return fmt.Errorf("task %q: function %q has type %v -> %v; an Extism plugin function takes nothing and returns an i32",
			t.Name, t.Function, def.ParamTypes(), res)
	}
	return nil
}
