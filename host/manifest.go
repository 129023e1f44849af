package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"taskhost.dev/abi"
)

// Manifest is the parsed manifest.toml: the plugins to load, their limits
// and capabilities, and the tasks they serve.
//
//	[defaults]
//	queue = "default"
//	[defaults.limits]
//	timeout = "30s"
//
//	[[plugin]]
//	name = "basic_operations"
//	path = "plugins/core/basic_operations.wasm"   # or ["lib.wasm", "main.wasm"]
//	sha256 = "9f86d0..."                           # or one per module
//	[plugin.limits]
//	max_memory = "64MiB"
//	[plugin.capabilities]
//	allowed_hosts = ["api.example.com"]
//	[plugin.config]
//	greeting = "Howdy"
//	[plugin.vars]
//	counter = "0"
//	[[plugin.task]]
//	name = "echo"
//	queue = "default"
type Manifest struct {
	// File is the manifest's path; relative plugin paths are resolved
	// against its folder.
	File string `toml:"-"`
	// Defaults apply to every plugin and task that does not set a value,
	// including plugins dropped into the plugins folder.
	Defaults Defaults `toml:"defaults"`
	// Plugins lists the plugins in file order.
	Plugins []PluginSpec `toml:"plugin"`
	// Workflows lists the workflows defined here; the engines run them.
	Workflows []WorkflowSpec `toml:"workflow"`
	// Schedules list the tasks submitted on a timetable; a worker keeps
	// the engine's schedules of its manifests equal to these.
	Schedules []ScheduleSpec `toml:"schedule"`

	pos *positions // where each key is, for errors and pinning
	raw []byte     // the text, for pinning
}

// Defaults are the manifest-wide defaults.
type Defaults struct {
	// Queue is the default queue of every task. Default "default".
	Queue string `toml:"queue"`
	// MaxRetries is the default retry count. Default 3.
	MaxRetries *int `toml:"max_retries"`
	// Limits are the default limits of every plugin.
	Limits Limits `toml:"limits"`
}

// PluginSpec is one [[plugin]] entry.
type PluginSpec struct {
	// Name is the plugin's name; by default the module's own or its file name.
	Name string `toml:"name"`
	// Path is the .wasm file, relative to the manifest's folder. A plugin
	// of several modules lists them with the main module last: path =
	// ["lib.wasm", "main.wasm"]. Every other module is linked under its
	// file name without .wasm ("lib"), the module name that the main module,
	// or a later one, imports from; the tasks are the main module's.
	Path StringList `toml:"path"`
	// SHA256 is the file's expected hex digest; when set, a file with another
	// digest is refused. For several modules, one digest per path entry in
	// the same order: sha256 = ["...", "..."].
	SHA256 StringList `toml:"sha256"`
	// Limits override the defaults for this plugin.
	Limits Limits `toml:"limits"`
	// Capabilities grant access beyond the default-deny sandbox.
	Capabilities Capabilities `toml:"capabilities"`
	// Config holds values the plugin reads with the Extism config call.
	Config map[string]string `toml:"config"`
	// Vars preset the plugin's Extism vars (var_get, var_set): every new
	// instance starts with them, and what the plugin sets lives as long as
	// its instance. Values are strings; write other bytes with \u escapes
	// ("\u000a\u0000" is the bytes 10, 0). At most 1MiB in all.
	Vars map[string]string `toml:"vars"`
	// Tasks declare or override tasks; a plain Extism plugin needs at least one.
	Tasks []TaskSpec `toml:"task"`

	index int // position among [[plugin]] entries
}

// Capabilities are what a plugin may reach outside its sandbox. Everything
// not listed is denied.
type Capabilities struct {
	// AllowedHosts are host names (or path.Match patterns such as
	// "*.example.com") the plugin may send HTTP requests to.
	AllowedHosts []string `toml:"allowed_hosts"`
	// AllowedPaths are host folders mounted read-only, as "/host/dir" (seen at
	// the same path) or "/host/dir:/guest/dir".
	AllowedPaths []string `toml:"allowed_paths"`
	// Env names host environment variables passed to the plugin.
	Env []string `toml:"env"`
}

// TaskSpec is one [[plugin.task]] entry.
type TaskSpec struct {
	// Name is the task's name.
	Name string `toml:"name"`
	// Function is the exported function; Name when empty. "_start" runs a
	// WASI command: its input is also its stdin, exit(0) is success and
	// another exit code a failed task with that code (TaskError.ExitCode),
	// and each call gets a new instance (the exit ends the old one).
	Function string `toml:"function"`
	// Description is a one-line summary.
	Description string `toml:"description"`
	// Queue is the queue the task is submitted to by default.
	Queue string `toml:"queue"`
	// MaxRetries is how many times the engine retries a failed attempt.
	MaxRetries *int `toml:"max_retries"`
	// Timeout caps one attempt; the plugin's limits.timeout when zero.
	Timeout Duration `toml:"timeout"`
	// Input is "json" (default: the JSON document is passed as is) or
	// "text" (the input must be a JSON string, whose text is passed).
	Input string `toml:"input"`
	// Output is "json" (default: the output must be a JSON document) or
	// "text" (the output bytes become a JSON string). For a WASI command
	// (Function "_start") with "text", what it writes to stdout, up to
	// max_output, is the output, unless it sets an Extism output.
	Output string `toml:"output"`
	// RetryDelay is the wait before the first retry (default 1s);
	// RetryBackoff "exponential" (default: each wait twice the one before)
	// or "fixed"; RetryMaxDelay caps a wait (default 1h); RetryJitter adds
	// up to that fraction of a wait at random (0 to 1).
	RetryDelay    Duration `toml:"retry_delay"`
	RetryMaxDelay Duration `toml:"retry_max_delay"`
	RetryBackoff  string   `toml:"retry_backoff"`
	RetryJitter   float64  `toml:"retry_jitter"`
}

// WorkflowSpec is one [[workflow]] entry: steps run one after another,
// each the output of the one before as its input (see backends.Workflow for
// the rule).
//
//	[[workflow]]
//	name = "csv_report"
//	[[workflow.step]]
//	task = "csv_to_json"
//	[[workflow.step]]
//	task = "select_fields"
//	params = { fields = ["name"] }
//	[[workflow.step]]
//	parallel = [{ task = "word_count" }, { task = "sha256" }]
type WorkflowSpec struct {
	// Name identifies the workflow.
	Name string `toml:"name"`
	// Description is a one-line summary.
	Description string `toml:"description"`
	// Steps run in order.
	Steps []WorkflowStepSpec `toml:"step"`
}

// WorkflowStepSpec is one step: a task with optional fixed params, or a
// parallel group of such tasks.
type WorkflowStepSpec struct {
	// Task is the task's name; empty for a parallel group.
	Task string `toml:"task"`
	// Params are added to the step's input.
	Params map[string]any `toml:"params"`
	// Parallel lists the tasks of a parallel group.
	Parallel []WorkflowStepSpec `toml:"parallel"`
}

// ScheduleSpec is one [[schedule]] entry: a task submitted on a cron
// timetable or every fixed interval, once per tick however many workers
// run.
//
//	[[schedule]]
//	name = "nightly_report"
//	task = "csv_report"
//	cron = "0 3 * * *"
//	timezone = "Europe/Paris"
//	input = { url = "https://example.com/data.csv" }
type ScheduleSpec struct {
	// Name identifies the schedule in its deployment.
	Name string `toml:"name"`
	// Task is the task each tick submits.
	Task string `toml:"task"`
	// Input is the task's input: any TOML value, passed as JSON (a table is
	// a JSON object). Null when unset.
	Input any `toml:"input"`
	// Cron is a five-field cron expression ("*/5 * * * *") or a descriptor
	// ("@hourly"); exclusive with Every.
	Cron string `toml:"cron"`
	// Every is a fixed interval ("30s"); exclusive with Cron.
	Every Duration `toml:"every"`
	// Queue overrides the task's queue.
	Queue string `toml:"queue"`
	// Timezone is the IANA zone Cron is read in; UTC when empty.
	Timezone string `toml:"timezone"`
}

// InputJSON is the schedule's input as JSON.
func (s ScheduleSpec) InputJSON() (json.RawMessage, error) {
	if s.Input == nil {
		return json.RawMessage("null"), nil
	}
	return json.Marshal(s.Input)
}

// ManifestError is a problem found in a manifest, with where it was found.
type ManifestError struct {
	File   string // manifest path
	Line   int    // 1-based; 0 when unknown
	Plugin string // plugin name or path, when the problem is in a plugin
	Task   string // task name, when the problem is in a task
	Msg    string // what is wrong and what to do
}

func (e *ManifestError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Plugin != "" {
		fmt.Fprintf(&b, ": plugin %q", e.Plugin)
	}
	if e.Task != "" {
		fmt.Fprintf(&b, ": task %q", e.Task)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// LoadManifest reads and parses the manifest at path.
func LoadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w (pass --manifest or set TASKHOST_MANIFEST to an existing file)", err)
	}
	return ParseManifest(path, data)
}

// ParseManifest parses manifest text strictly: a syntax error, an unknown
// key, a value of the wrong type, a bad value, a duplicate or invalid name
// is an error that names the file, the line of the offending key, the
// plugin and the task, and what to do. Files and digests are checked when
// plugins are loaded, not here.
func ParseManifest(file string, data []byte) (*Manifest, error) {
	ps, err := indexPositions(file, data)
	if err != nil {
		return nil, err
	}
	if errs := ps.checkKeys(file); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m := &Manifest{File: file, pos: ps, raw: data}
	if _, err := toml.Decode(string(data), m); err != nil {
		// The checks above should have caught it; say what the decoder said.
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ManifestError{File: file, Line: pe.Position.Line, Msg: pe.Message}
		}
		return nil, &ManifestError{File: file, Msg: err.Error()}
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Line returns the 1-based line of the manifest key at path, its parts
// joined with dots, ints being array-of-tables indices ("plugin", 1,
// "limits", "max_memory"), else of its nearest table; 0 when unknown.
func (m *Manifest) Line(path ...any) int { return m.pos.line(path...) }

func (m *Manifest) validate() error {
	var errs []error
	add := func(line int, plugin, task, format string, args ...any) {
		errs = append(errs, &ManifestError{File: m.File, Line: line, Plugin: plugin, Task: task, Msg: fmt.Sprintf(format, args...)})
	}
	if m.Defaults.MaxRetries != nil && *m.Defaults.MaxRetries < 0 {
		add(m.Line("defaults", "max_retries"), "", "", "defaults.max_retries is negative; use 0 for no retries")
	}
	if key, err := m.Defaults.Limits.withDefaults(DefaultLimits()).check(); err != nil {
		add(m.Line("defaults", "limits", key), "", "", "defaults: %v", err)
	}
	names := map[string]int{}
	tasks := map[string]string{}
	for i := range m.Plugins {
		p := &m.Plugins[i]
		p.index = i
		line := m.Line("plugin", i)
		label := p.Name
		if label == "" {
			label = p.mainPath()
		}
		if len(p.Path) == 0 || slices.Contains(p.Path, "") {
			add(line, label, "", "path is missing or has an empty entry; set path to the plugin's .wasm file (or to its modules, the main one last)")
		}
		links := map[string]bool{}
		for _, f := range p.Path[:max(len(p.Path)-1, 0)] {
			name := linkName(f)
			if why := checkLinkName(name); why != "" {
				add(m.Line("plugin", i, "path"), label, "", "module %s would be linked as %q: %s; rename the file", f, name, why)
			} else if links[name] {
				add(m.Line("plugin", i, "path"), label, "", "two modules would be linked as %q; give each file its own name", name)
			}
			links[name] = true
		}
		if len(p.SHA256) > 0 && len(p.SHA256) != len(p.Path) {
			add(m.Line("plugin", i, "sha256"), label, "", "sha256 lists %d digests for %d modules in path; give one per module, in path's order (make plugins writes them)", len(p.SHA256), len(p.Path))
		}
		if p.Name != "" {
			if !abi.ValidName(p.Name) {
				add(m.Line("plugin", i, "name"), label, "", "name is not valid: use letters, digits and _.:- only")
			}
			if prev, dup := names[p.Name]; dup {
				add(m.Line("plugin", i, "name"), label, "", "the name is used by plugin %d too; give each plugin its own name", prev+1)
			}
			names[p.Name] = i
		}
		for _, d := range p.SHA256 {
			if !isHexDigest(d) {
				add(m.Line("plugin", i, "sha256"), label, "", "sha256 %q is not 64 hex digits; run make plugins to write it", d)
			}
		}
		if key, err := p.Limits.withDefaults(m.Defaults.Limits.withDefaults(DefaultLimits())).check(); err != nil {
			add(m.Line("plugin", i, "limits", key), label, "", "%v", err)
		}
		if n := varsSize(p.Vars); n > maxVarBytes {
			add(m.Line("plugin", i, "vars"), label, "", "[plugin.vars] hold %d bytes, over the %s that a plugin's vars may hold", n, ByteSize(maxVarBytes))
		}
		for _, ap := range p.Capabilities.AllowedPaths {
			if _, _, err := splitMount(ap); err != nil {
				add(m.Line("plugin", i, "capabilities", "allowed_paths"), label, "", "%v", err)
			}
		}
		for _, h := range p.Capabilities.AllowedHosts {
			if h == "" || strings.ContainsAny(h, "/ ") {
				add(m.Line("plugin", i, "capabilities", "allowed_hosts"), label, "", "allowed_hosts entry %q is not a host name or pattern such as \"api.example.com\" or \"*.example.com\"", h)
			}
		}
		for j := range p.Tasks {
			t := &p.Tasks[j]
			at := func(key string) int { return m.Line("plugin", i, "task", j, key) }
			if !abi.ValidName(t.Name) {
				add(at("name"), label, t.Name, "task name is missing or not valid: use letters, digits and _.:- only")
				continue
			}
			if prev, dup := tasks[t.Name]; dup {
				add(at("name"), label, t.Name, "task is also declared by plugin %q; task names must be unique", prev)
			}
			tasks[t.Name] = label
			if t.Function != "" && !abi.ValidName(t.Function) {
				add(at("function"), label, t.Name, "function %q is not a valid export name", t.Function)
			}
			if t.MaxRetries != nil && *t.MaxRetries < 0 {
				add(at("max_retries"), label, t.Name, "max_retries is negative; use 0 for no retries")
			}
			if t.Input != "" && t.Input != "json" && t.Input != "text" {
				add(at("input"), label, t.Name, "input %q is not \"json\" or \"text\"", t.Input)
			}
			if t.Output != "" && t.Output != "json" && t.Output != "text" {
				add(at("output"), label, t.Name, "output %q is not \"json\" or \"text\"", t.Output)
			}
			switch {
			case t.RetryDelay < 0:
				add(at("retry_delay"), label, t.Name, "retry_delay %s is negative", t.RetryDelay)
			case t.RetryMaxDelay < 0:
				add(at("retry_max_delay"), label, t.Name, "retry_max_delay %s is negative", t.RetryMaxDelay)
			case t.RetryDelay > 0 && t.RetryMaxDelay > 0 && t.RetryMaxDelay < t.RetryDelay:
				add(at("retry_max_delay"), label, t.Name, "retry_max_delay %s is below retry_delay %s", t.RetryMaxDelay, t.RetryDelay)
			case t.RetryBackoff != "" && t.RetryBackoff != "exponential" && t.RetryBackoff != "fixed":
				add(at("retry_backoff"), label, t.Name, "retry_backoff %q is not \"exponential\" or \"fixed\"", t.RetryBackoff)
			case t.RetryJitter < 0 || t.RetryJitter > 1:
				add(at("retry_jitter"), label, t.Name, "retry_jitter %g is outside 0 to 1 (a fraction of each wait)", t.RetryJitter)
			}
		}
	}
	wfNames := map[string]bool{}
	for i, w := range m.Workflows {
		line := m.Line("workflow", i, "name")
		if !abi.ValidName(w.Name) {
			add(line, "", "", "workflow %d: name %q is missing or not valid (letters, digits, _.:- only)", i+1, w.Name)
			continue
		}
		if wfNames[w.Name] {
			add(line, "", "", "workflow %q is defined twice", w.Name)
		}
		wfNames[w.Name] = true
		if len(w.Steps) == 0 {
			add(line, "", "", "workflow %q has no [[workflow.step]] entries", w.Name)
		}
		for j, st := range w.Steps {
			line := m.Line("workflow", i, "step", j)
			switch {
			case st.Task != "" && len(st.Parallel) > 0:
				add(line, "", "", "workflow %q step %d: set task or parallel, not both", w.Name, j+1)
			case st.Task == "" && len(st.Parallel) == 0:
				add(line, "", "", "workflow %q step %d: set task, or parallel = [{ task = \"...\" }, ...]", w.Name, j+1)
			}
			for k, p := range st.Parallel {
				if p.Task == "" || len(p.Parallel) > 0 {
					add(line, "", "", "workflow %q step %d: parallel entry %d needs a task (groups do not nest)", w.Name, j+1, k+1)
				}
			}
		}
	}
	errs = append(errs, m.validateSchedules()...)
	return errors.Join(errs...)
}

// resolve returns p's path resolved against the manifest's folder.
func (m *Manifest) resolve(p string) string {
	if filepath.IsAbs(p) || m.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(m.File), p)
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// splitMount splits an allowed_paths entry into host and guest paths.
func splitMount(s string) (hostPath, guestPath string, err error) {
	hostPath, guestPath, ok := strings.Cut(s, ":")
	if !ok {
		guestPath = hostPath
	}
	if !filepath.IsAbs(hostPath) || !strings.HasPrefix(guestPath, "/") {
		return "", "", fmt.Errorf("allowed_paths entry %q must be an absolute host folder, optionally followed by :/guest/path", s)
	}
	return filepath.Clean(hostPath), guestPath, nil
}
