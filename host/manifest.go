package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
//	path = "plugins/core/basic_operations.wasm"
//	sha256 = "9f86d0..."
//	[plugin.limits]
//	max_memory = "64MiB"
//	[plugin.capabilities]
//	allowed_hosts = ["api.example.com"]
//	[plugin.config]
//	greeting = "Howdy"
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

	lines    []string
	headers  map[string][]int // header text -> 0-based lines
	firstKey map[string]int   // key -> 1-based line of its first use
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
	// Path is the .wasm file, relative to the manifest's folder.
	Path string `toml:"path"`
	// SHA256 is the file's expected hex digest; when set, a file with another
	// digest is refused.
	SHA256 string `toml:"sha256"`
	// Limits override the defaults for this plugin.
	Limits Limits `toml:"limits"`
	// Capabilities grant access beyond the default-deny sandbox.
	Capabilities Capabilities `toml:"capabilities"`
	// Config holds values the plugin reads with the Extism config call.
	Config map[string]string `toml:"config"`
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
	// Function is the exported function; Name when empty.
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
	// "text" (the output bytes become a JSON string).
	Output string `toml:"output"`
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

// ParseManifest parses manifest text strictly: an unknown key, a bad value,
// a duplicate or invalid name is an error that names the file, the line
// where it can be found, the plugin and the task. Files and digests are
// checked when plugins are loaded, not here.
func ParseManifest(file string, data []byte) (*Manifest, error) {
	m := &Manifest{File: file, lines: strings.Split(string(data), "\n")}
	m.index()
	md, err := toml.Decode(string(data), m)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ManifestError{File: file, Line: pe.Position.Line, Msg: pe.Message + " (see the TOML syntax at that line)"}
		}
		return nil, &ManifestError{File: file, Msg: err.Error()}
	}
	if und := md.Undecoded(); len(und) > 0 {
		var errs []error
		for _, k := range und {
			if freeForm(k) {
				continue
			}
			key := k[len(k)-1]
			errs = append(errs, &ManifestError{File: file, Line: m.findKeyLine(key), Msg: fmt.Sprintf("unknown key %q; check its spelling against the manifest reference in README.md", k.String())})
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// freeForm reports whether key lies inside a workflow step's params, which
// may hold any TOML (the decoder reports nested tables there as undecoded).
func freeForm(key toml.Key) bool {
	for i := 0; i+1 < len(key); i++ {
		if key[i] == "workflow" {
			for _, part := range key[i+1:] {
				if part == "params" {
					return true
				}
			}
		}
	}
	return false
}

func (m *Manifest) validate() error {
	var errs []error
	add := func(line int, plugin, task, format string, args ...any) {
		errs = append(errs, &ManifestError{File: m.File, Line: line, Plugin: plugin, Task: task, Msg: fmt.Sprintf(format, args...)})
	}
	if m.Defaults.MaxRetries != nil && *m.Defaults.MaxRetries < 0 {
		add(m.findKeyLine("max_retries"), "", "", "defaults.max_retries is negative")
	}
	if err := m.Defaults.Limits.withDefaults(DefaultLimits()).validate(); err != nil {
		add(m.findLine("[defaults.limits]", 0, ""), "", "", "defaults: %v", err)
	}
	names := map[string]int{}
	tasks := map[string]string{}
	taskIndex := 0
	for i := range m.Plugins {
		p := &m.Plugins[i]
		p.index = i
		line := m.findLine("[[plugin]]", i, "")
		label := p.Name
		if label == "" {
			label = p.Path
		}
		if p.Path == "" {
			add(line, label, "", "path is missing; set path to the plugin's .wasm file")
		}
		if p.Name != "" {
			if !abi.ValidName(p.Name) {
				add(m.findLine("[[plugin]]", i, "name"), label, "", "name is not valid: use letters, digits and _.:- only")
			}
			if prev, dup := names[p.Name]; dup {
				add(m.findLine("[[plugin]]", i, "name"), label, "", "the name is used by plugin %d too; give each plugin its own name", prev+1)
			}
			names[p.Name] = i
		}
		if p.SHA256 != "" && !isHexDigest(p.SHA256) {
			add(m.findLine("[[plugin]]", i, "sha256"), label, "", "sha256 %q is not 64 hex digits; run make plugins to write it", p.SHA256)
		}
		if err := p.Limits.withDefaults(m.Defaults.Limits.withDefaults(DefaultLimits())).validate(); err != nil {
			add(m.findLine("[[plugin]]", i, "max_memory"), label, "", "%v", err)
		}
		for _, ap := range p.Capabilities.AllowedPaths {
			if _, _, err := splitMount(ap); err != nil {
				add(m.findLine("[[plugin]]", i, "allowed_paths"), label, "", "%v", err)
			}
		}
		for _, h := range p.Capabilities.AllowedHosts {
			if h == "" || strings.ContainsAny(h, "/ ") {
				add(m.findLine("[[plugin]]", i, "allowed_hosts"), label, "", "allowed_hosts entry %q is not a host name or pattern such as \"api.example.com\" or \"*.example.com\"", h)
			}
		}
		for j := range p.Tasks {
			t := &p.Tasks[j]
			tline := m.findLine("[[plugin.task]]", taskIndex, "")
			taskIndex++
			if !abi.ValidName(t.Name) {
				add(tline, label, t.Name, "task name is missing or not valid: use letters, digits and _.:- only")
				continue
			}
			if prev, dup := tasks[t.Name]; dup {
				add(tline, label, t.Name, "task is also declared by plugin %q; task names must be unique", prev)
			}
			tasks[t.Name] = label
			if t.Function != "" && !abi.ValidName(t.Function) {
				add(tline, label, t.Name, "function %q is not a valid export name", t.Function)
			}
			if t.MaxRetries != nil && *t.MaxRetries < 0 {
				add(tline, label, t.Name, "max_retries is negative")
			}
			if t.Input != "" && t.Input != "json" && t.Input != "text" {
				add(tline, label, t.Name, "input %q is not \"json\" or \"text\"", t.Input)
			}
			if t.Output != "" && t.Output != "json" && t.Output != "text" {
				add(tline, label, t.Name, "output %q is not \"json\" or \"text\"", t.Output)
			}
		}
	}
	wfNames := map[string]bool{}
	for i, w := range m.Workflows {
		line := m.findLine("[[workflow]]", i, "")
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
	return errors.Join(errs...)
}

// resolve returns p's path resolved against the manifest's folder.
func (m *Manifest) resolve(p string) string {
	if filepath.IsAbs(p) || m.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(m.File), p)
}

// index records where each table header and each key first appears, so
// that errors can name lines without rescanning the file.
func (m *Manifest) index() {
	m.headers = map[string][]int{}
	m.firstKey = map[string]int{}
	for i, l := range m.lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			m.headers[t] = append(m.headers[t], i)
			continue
		}
		if k := keyOf(t); k != "" {
			if _, ok := m.firstKey[k]; !ok {
				m.firstKey[k] = i + 1
			}
		}
	}
}

// findLine returns the 1-based line of key inside the n-th (0-based)
// occurrence of the table header (up to the next array-of-tables header),
// or of the header itself when key is empty; 0 when not found.
func (m *Manifest) findLine(header string, n int, key string) int {
	at := m.headers[header]
	if n < 0 || n >= len(at) {
		return 0
	}
	if key == "" {
		return at[n] + 1
	}
	for i := at[n] + 1; i < len(m.lines); i++ {
		t := strings.TrimSpace(m.lines[i])
		if strings.HasPrefix(t, "[[") {
			return 0
		}
		if keyOf(t) == key {
			return i + 1
		}
	}
	return 0
}

// findKeyLine returns the first line that sets key, or 0.
func (m *Manifest) findKeyLine(key string) int { return m.firstKey[key] }

func keyOf(line string) string {
	k, _, ok := strings.Cut(line, "=")
	if !ok || strings.HasPrefix(line, "#") {
		return ""
	}
	return strings.Trim(strings.TrimSpace(k), `"'`)
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
