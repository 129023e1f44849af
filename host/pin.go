package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// PinManifest writes the sha256 of every [[plugin]]'s module into the
// manifest at path, replacing the old value or adding the key after path.
// It returns the names (or paths) of the plugins whose digest changed.
// Everything else in the file, comments included, is kept.
func PinManifest(path string) ([]string, error) {
	m, err := LoadManifest(path)
	if err != nil {
		return nil, err
	}
	digests := make([]string, len(m.Plugins))
	for i, p := range m.Plugins {
		b, err := os.ReadFile(m.resolve(p.Path))
		if err != nil {
			return nil, &ManifestError{File: path, Line: m.findLine("[[plugin]]", i, ""), Plugin: p.Path, Msg: fmt.Sprintf("cannot read the module: %v; build it first", err)}
		}
		sum := sha256.Sum256(b)
		digests[i] = hex.EncodeToString(sum[:])
	}
	var out []string
	var changed []string
	plugin := -1
	inMain := false // inside the [[plugin]] table itself, before its sub-tables
	done := false
	flush := func() {
		if plugin >= 0 && !done {
			// No sha256 key: add one after the path key.
			for j := len(out) - 1; j >= 0; j-- {
				if keyOf(strings.TrimSpace(out[j])) == "path" {
					out = append(out[:j+1], append([]string{fmt.Sprintf("sha256 = %q", digests[plugin])}, out[j+1:]...)...)
					changed = append(changed, label(m.Plugins[plugin]))
					break
				}
				if strings.TrimSpace(out[j]) == "[[plugin]]" {
					break
				}
			}
		}
	}
	for _, line := range m.lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			if inMain {
				flush()
				done = true
			}
			inMain = false
			if t == "[[plugin]]" {
				plugin++
				inMain, done = true, false
			}
		}
		if inMain && keyOf(t) == "sha256" {
			want := fmt.Sprintf("sha256 = %q", digests[plugin])
			if t != want {
				changed = append(changed, label(m.Plugins[plugin]))
			}
			line, done = want, true
		}
		out = append(out, line)
	}
	if inMain {
		flush()
	}
	if len(changed) == 0 {
		return nil, nil
	}
	return changed, os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644)
}

func label(p PluginSpec) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Path
}
