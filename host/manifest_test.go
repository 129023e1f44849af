package host_test

import (
	"strings"
	"testing"

	"taskhost.dev/host"
)

func TestParseManifestErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown key", "[[plugin]]\nname = \"p\"\npath = \"p.wasm\"\ntimeuot = \"1s\"\n", `fuzz.toml:4: unknown key "plugin.timeuot"`},
		{"unknown limit", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\nmax_mem = 1\n", `fuzz.toml:4: unknown key "plugin.limits.max_mem"`},
		{"syntax", "[[plugin]\n", "fuzz.toml:2: expected end of table array name"},
		{"no path", "[[plugin]]\nname = \"p\"\n", `fuzz.toml:1: plugin "p": path is missing`},
		{"bad digest", "[[plugin]]\npath = \"p.wasm\"\nsha256 = \"xyz\"\n", `fuzz.toml:3: plugin "p.wasm": sha256 "xyz" is not 64 hex digits`},
		{"duplicate task", "[[plugin]]\npath = \"a.wasm\"\n[[plugin.task]]\nname = \"t\"\n[[plugin]]\npath = \"b.wasm\"\n[[plugin.task]]\nname = \"t\"\n",
			`fuzz.toml:7: plugin "b.wasm": task "t": task is also declared by plugin "a.wasm"`},
		{"bad isolation", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\nisolation = \"shared\"\n", `isolation "shared" is not "pooled" or "fresh"`},
		{"bad size", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\nmax_memory = \"lots\"\n", `"lots" is not a size`},
		{"bad duration", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\ntimeout = \"soon\"\n", `"soon" is not a duration`},
		{"relative mount", "[[plugin]]\npath = \"p.wasm\"\n[plugin.capabilities]\nallowed_paths = [\"data\"]\n", `allowed_paths entry "data" must be an absolute host folder`},
		{"workflow without steps", "[[workflow]]\nname = \"w\"\n", `fuzz.toml:1: workflow "w" has no [[workflow.step]] entries`},
		{"workflow step with both", "[[workflow]]\nname = \"w\"\n[[workflow.step]]\ntask = \"a\"\nparallel = [{ task = \"b\" }]\n", `set task or parallel, not both`},
		{"workflow twice", "[[workflow]]\nname = \"w\"\n[[workflow.step]]\ntask = \"a\"\n[[workflow]]\nname = \"w\"\n[[workflow.step]]\ntask = \"a\"\n", `fuzz.toml:5: workflow "w" is defined twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := host.ParseManifest("fuzz.toml", []byte(c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestParseManifestWorkflows(t *testing.T) {
	m, err := host.ParseManifest("m.toml", []byte(`
[[workflow]]
name = "w"
description = "d"
[[workflow.step]]
task = "a"
params = { fields = ["x"], rename = { x = "y" }, deep = { deeper = { n = 1 } } }
[[workflow.step]]
parallel = [{ task = "b" }, { task = "c", params = { k = "v" } }]
`))
	if err != nil {
		t.Fatal(err)
	}
	w := m.Workflows[0]
	if w.Name != "w" || len(w.Steps) != 2 || w.Steps[0].Params["rename"].(map[string]any)["x"] != "y" || len(w.Steps[1].Parallel) != 2 || w.Steps[1].Parallel[1].Params["k"] != "v" {
		t.Errorf("parsed %+v", w)
	}
}
