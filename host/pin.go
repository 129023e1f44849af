package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// PinManifest writes the sha256 of every [[plugin]]'s modules into the
// manifest at path: an operator pins what a worker may load. An existing
// sha256 value is replaced where the parser found it; a plugin without one
// gets a sha256 line after its path. Everything else in the file,
// comments included, is kept byte for byte. It returns the names (or
// paths) of the plugins whose digest changed.
func PinManifest(path string) ([]string, error) {
	m, err := LoadManifest(path)
	if err != nil {
		return nil, err
	}
	type edit struct {
		at, end int // bytes [at, end) are replaced by text
		text    string
	}
	var edits []edit
	var changed []string
	for i, p := range m.Plugins {
		var sums []string
		for _, f := range p.Path {
			b, err := os.ReadFile(m.resolve(f))
			if err != nil {
				return nil, &ManifestError{File: path, Line: m.Line("plugin", i, "path"), Plugin: label(p),
					Msg: fmt.Sprintf("cannot read the module: %v; build it first", err)}
			}
			sum := sha256.Sum256(b)
			sums = append(sums, hex.EncodeToString(sum[:]))
		}
		if strings.Join(sums, ",") == strings.Join(p.SHA256, ",") {
			continue
		}
		changed = append(changed, label(p))
		value := strconv.Quote(sums[0])
		if len(sums) > 1 {
			quoted := make([]string, len(sums))
			for j, s := range sums {
				quoted[j] = strconv.Quote(s)
			}
			value = "[" + strings.Join(quoted, ", ") + "]"
		}
		if k, ok := m.pos.key("plugin", i, "sha256"); ok {
			edits = append(edits, edit{k.valStart, k.valEnd, value})
			continue
		}
		k, ok := m.pos.key("plugin", i, "path")
		if !ok {
			return nil, &ManifestError{File: path, Line: m.Line("plugin", i), Plugin: label(p), Msg: "has no path to pin"}
		}
		// After the end of the line the path's value ends on.
		eol := bytes.IndexByte(m.raw[k.valEnd:], '\n')
		at := len(m.raw)
		if eol >= 0 {
			at = k.valEnd + eol + 1
		}
		text := "sha256 = " + value + "\n"
		if eol < 0 {
			text = "\n" + text
		}
		edits = append(edits, edit{at, at, text})
	}
	if len(edits) == 0 {
		return nil, nil
	}
	sort.Slice(edits, func(a, b int) bool { return edits[a].at > edits[b].at })
	out := append([]byte(nil), m.raw...)
	for _, e := range edits {
		out = append(out[:e.at], append([]byte(e.text), out[e.end:]...)...)
	}
	if _, err := ParseManifest(path, out); err != nil {
		return nil, fmt.Errorf("pinning %s would make it invalid, so it is left as it was: %w", path, err)
	}
	return changed, os.WriteFile(path, out, 0o644)
}

func label(p PluginSpec) string {
	if p.Name != "" {
		return p.Name
	}
	return p.mainPath()
}
