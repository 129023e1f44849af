package host_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"taskhost.dev/host"
)

// FuzzParseManifest checks that no manifest text makes the parser panic,
// that every error it returns names the file, and that a manifest it
// accepts has no unnamed or duplicate tasks.
// Run with: go test ./host -run '^$' -fuzz FuzzParseManifest -fuzztime 3m
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`[[plugin]]
name = "p"
path = "p.wasm"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
[plugin.limits]
max_memory = "64MiB"
timeout = "2s"
max_output = 1024
isolation = "fresh"
[plugin.capabilities]
allowed_hosts = ["*.example.com"]
allowed_paths = ["/tmp:/data"]
env = ["HOME"]
[plugin.config]
k = "v"
[[plugin.task]]
name = "t"
function = "f"
input = "text"
`))
	f.Add([]byte("[defaults]\nqueue = \"q\"\nmax_retries = 2\n[defaults.limits]\npool_size = 3\n"))
	f.Add([]byte("[[plugin]]\npath = \"a.wasm\"\n[[plugin.task]]\nname = \"x\"\n[[plugin]]\npath = \"b.wasm\"\n[[plugin.task]]\nname = \"x\"\n"))
	f.Add([]byte("[[plugin]]\nname = \"p\"\npath = \"p.wasm\"\nunknown = 1\n"))
	f.Add([]byte("[[plugin\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := host.ParseManifest("fuzz.toml", data)
		if err != nil {
			var me *host.ManifestError
			if !errors.As(err, &me) && !strings.Contains(err.Error(), "fuzz.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range m.Plugins {
			if len(p.Path) == 0 || slices.Contains(p.Path, "") {
				t.Fatalf("accepted a plugin without a path: %q", data)
			}
			for _, task := range p.Tasks {
				if task.Name == "" || seen[task.Name] {
					t.Fatalf("accepted an empty or duplicate task name %q", task.Name)
				}
				seen[task.Name] = true
			}
		}
	})
}
