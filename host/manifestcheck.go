package host

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/pelletier/go-toml/v2/unstable"
)

// checkKeys checks every key of the manifest against the Manifest type
// before it is decoded: a key the manifest does not know, or a value of
// the wrong type, is a ManifestError at that key's own line that says what
// was wanted.
func (ps *positions) checkKeys(file string) []error {
	var errs []error
	for _, k := range ps.keys {
		t, known := schemaType(reflect.TypeOf(Manifest{}), strings.Split(k.path, "."))
		if !known {
			errs = append(errs, &ManifestError{File: file, Line: k.line, Plugin: ps.pluginOf(k.path), Task: ps.taskOf(k.path),
				Msg: fmt.Sprintf("unknown key %q; check its spelling against the manifest reference in README.md", stripIndices(k.path))})
			continue
		}
		if t == nil {
			continue // free-form (a workflow step's params)
		}
		if msg := checkValue(t, k); msg != "" {
			errs = append(errs, &ManifestError{File: file, Line: k.line, Plugin: ps.pluginOf(k.path), Task: ps.taskOf(k.path),
				Msg: fmt.Sprintf("%s: %s", lastKey(k.path), msg)})
		}
	}
	return errs
}

var (
	tomlUnmarshaler = reflect.TypeOf((*toml.Unmarshaler)(nil)).Elem()
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// schemaType finds the Go type of the key at path in t: known is false
// for a key t does not have; a nil type is free-form (anything goes).
func schemaType(t reflect.Type, path []string) (reflect.Type, bool) {
	for _, seg := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if reflect.PointerTo(t).Implements(tomlUnmarshaler) {
			return t, true // it reads its own parts
		}
		switch t.Kind() {
		case reflect.Slice:
			if _, err := strconv.Atoi(seg); err != nil {
				return nil, false
			}
			t = t.Elem()
		case reflect.Map:
			t = t.Elem()
		case reflect.Interface:
			return nil, true
		case reflect.Struct:
			f, ok := fieldByTag(t, seg)
			if !ok {
				return nil, false
			}
			t = f.Type
		default:
			return nil, false
		}
	}
	return t, true
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == name && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// checkValue says what is wrong with k's value for a field of type t, or
// "" when nothing is.
func checkValue(t reflect.Type, k keyPos) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	got := kindName(k.kind)
	if reflect.PointerTo(t).Implements(tomlUnmarshaler) {
		v := reflect.New(t).Interface().(toml.Unmarshaler)
		if err := v.UnmarshalTOML(k.value); err != nil {
			return err.Error()
		}
		return ""
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		s, ok := k.value.(string)
		if !ok {
			return fmt.Sprintf("is %s; want a string such as \"30s\"", got)
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return err.Error()
		}
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		if k.kind != unstable.String {
			return fmt.Sprintf("is %s; want a string in quotes", got)
		}
	case reflect.Int, reflect.Int64:
		if _, ok := k.value.(int64); !ok {
			return fmt.Sprintf("is %s; want a whole number (no quotes)", got)
		}
	case reflect.Float64:
		switch k.value.(type) {
		case int64, float64:
		default:
			return fmt.Sprintf("is %s; want a number", got)
		}
	case reflect.Bool:
		if k.kind != unstable.Bool {
			return fmt.Sprintf("is %s; want true or false", got)
		}
	case reflect.Slice:
		if k.kind != unstable.Array {
			return fmt.Sprintf("is %s; want an array, [ ... ]", got)
		}
		if t.Elem().Kind() == reflect.String {
			for i, e := range k.value.([]any) {
				if _, ok := e.(string); !ok {
					return fmt.Sprintf("entry %d is not a string; want an array of strings", i+1)
				}
			}
		}
	case reflect.Struct, reflect.Map:
		if k.kind != unstable.InlineTable {
			return fmt.Sprintf("is %s; want a table", got)
		}
	}
	return ""
}

func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "a whole number"
	case unstable.Float:
		return "a number"
	case unstable.Bool:
		return "true or false"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	}
	return "a date or time"
}

// pluginOf and taskOf name the plugin and task a key is in, when it is in
// one: by its name key, else by its place.
func (ps *positions) pluginOf(path string) string {
	parts := strings.Split(path, ".")
	if len(parts) < 2 || parts[0] != "plugin" {
		return ""
	}
	return ps.nameAt("plugin."+parts[1], "plugin "+parts[1])
}

func (ps *positions) taskOf(path string) string {
	parts := strings.Split(path, ".")
	if len(parts) < 4 || parts[0] != "plugin" || parts[2] != "task" {
		return ""
	}
	return ps.nameAt(strings.Join(parts[:4], "."), "")
}

func (ps *positions) nameAt(table, fallback string) string {
	if i, ok := ps.byPath[table+".name"]; ok {
		if s, ok := ps.keys[i].value.(string); ok && s != "" {
			return s
		}
	}
	if i, ok := ps.byPath[table+".path"]; ok {
		if s, ok := ps.keys[i].value.(string); ok {
			return s
		}
	}
	return fallback
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// stripIndices writes a path as the reference writes it: plugin.task.name.
func stripIndices(path string) string {
	var out []string
	for _, p := range strings.Split(path, ".") {
		if _, err := strconv.Atoi(p); err != nil {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}
