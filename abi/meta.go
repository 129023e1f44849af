package abi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Meta is the self-description a module returns from MetaExport.
type Meta struct {
	// ABI is the taskhost ABI version the module speaks.
	ABI int `json:"abi"`
	// Plugin is the plugin's name; the host uses the file name when empty.
	Plugin string `json:"plugin,omitempty"`
	// Tasks lists the tasks the module serves.
	Tasks []TaskMeta `json:"tasks"`
}

// TaskMeta describes one task of a module. Zero values mean "use the host's
// default"; a manifest entry for the same task overrides any field it sets.
type TaskMeta struct {
	// Name is the task name applications submit, unique within a host.
	Name string `json:"name"`
	// Function is the exported Extism function; Name when empty.
	Function string `json:"function,omitempty"`
	// Description is a one-line summary for listings.
	Description string `json:"description,omitempty"`
	// Queue is the default queue.
	Queue string `json:"queue,omitempty"`
	// MaxRetries is the default number of retries after the first attempt.
	MaxRetries *int `json:"max_retries,omitempty"`
	// Timeout is the default per-attempt timeout, as a Go duration ("30s").
	Timeout string `json:"timeout,omitempty"`
}

var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$`)

// ValidName reports whether s may name a task, plugin or workflow: a letter
// or underscore, then up to 127 letters, digits or any of "_.:-".
func ValidName(s string) bool { return namePattern.MatchString(s) }

// ParseMeta decodes and validates a Meta document. It refuses an ABI
// version the host does not speak, naming the versions it does.
func ParseMeta(data []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		return Meta{}, fmt.Errorf("%s output is not a valid metadata document: %w", MetaExport, err)
	}
	if !Supports(m.ABI) {
		return Meta{}, fmt.Errorf("module speaks taskhost ABI version %d; this host speaks %s: rebuild the plugin with a matching SDK",
			m.ABI, SupportedVersionsString())
	}
	if m.Plugin != "" && !ValidName(m.Plugin) {
		return Meta{}, fmt.Errorf("metadata: plugin name %q is not valid (letters, digits, _.:- only)", m.Plugin)
	}
	seen := make(map[string]bool, len(m.Tasks))
	for i, t := range m.Tasks {
		if !ValidName(t.Name) {
			return Meta{}, fmt.Errorf("metadata: task %d: name %q is not valid (letters, digits, _.:- only)", i, t.Name)
		}
		if seen[t.Name] {
			return Meta{}, fmt.Errorf("metadata: task %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		if t.Function != "" && !ValidName(t.Function) {
			return Meta{}, fmt.Errorf("metadata: task %q: function %q is not a valid export name", t.Name, t.Function)
		}
		if t.Timeout != "" {
			if d, err := time.ParseDuration(t.Timeout); err != nil || d <= 0 {
				return Meta{}, fmt.Errorf("metadata: task %q: timeout %q is not a positive duration such as \"30s\"", t.Name, t.Timeout)
			}
		}
		if t.MaxRetries != nil && *t.MaxRetries < 0 {
			return Meta{}, fmt.Errorf("metadata: task %q: max_retries %d is negative", t.Name, *t.MaxRetries)
		}
	}
	return m, nil
}
