package tasks

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// generatedName matches the names easyjson gives its functions, which
// carry a hash and the CamelCase of the package's import path.
var generatedName = regexp.MustCompile(`easyjson[0-9A-Fa-f]{8}(Decode|Encode)[A-Za-z]+?(\d*)\(`)

// TestGeneratedCodecsAreCurrent regenerates tasks_easyjson.go from a copy
// of tasks.go and compares: a type changed without go generate would
// otherwise be decoded by stale code.
func TestGeneratedCodecsAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the easyjson generator")
	}
	// easyjson builds a program that imports the package it generates for,
	// so the copy is a package inside the module, in a folder that go
	// build ./... ignores (its name starts with an underscore).
	// (No digits in its name: they would end up in the generated names.)
	dir := "_easyjson_check"
	os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	src, err := os.ReadFile("tasks.go")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tasks.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "tool", "easyjson", "-all", "tasks.go")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool easyjson: %v\n%s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(dir, "tasks_easyjson.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("tasks_easyjson.go")
	if err != nil {
		t.Fatal(err)
	}
	norm := func(b []byte) string { return generatedName.ReplaceAllString(string(b), "easyjson$1$2(") }
	g, w := strings.Split(norm(got), "\n"), strings.Split(norm(want), "\n")
	for i := range max(len(g), len(w)) {
		if i >= len(g) || i >= len(w) || g[i] != w[i] {
			t.Fatalf("tasks_easyjson.go is out of date: run go generate ./plugins/core/basic_operations/tasks (line %d: %q, generated %q)", i+1, at(w, i), at(g, i))
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}
