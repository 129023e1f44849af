package host_test

import (
	"strings"
	"testing"

	"taskhost.dev/host"
)

func TestParseManifestErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown key", "[[plugin]]\nname = \"p\"\npath = \"p.wasm\"\ntimeuot = \"1s\"\n", `fuzz.toml:4: plugin "p": unknown key "plugin.timeuot"; check its spelling`},
		{"unknown limit", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\nmax_mem = 1\n", `fuzz.toml:4: plugin "p.wasm": unknown key "plugin.limits.max_mem"`},
		{"syntax", "[[plugin]\n", "fuzz.toml:1: not valid TOML: expected character ]"},
		{"no path", "[[plugin]]\nname = \"p\"\n", `fuzz.toml:1: plugin "p": path is missing`},
		{"bad digest", "[[plugin]]\npath = \"p.wasm\"\nsha256 = \"xyz\"\n", `fuzz.toml:3: plugin "p.wasm": sha256 "xyz" is not 64 hex digits`},
		{"duplicate task", "[[plugin]]\npath = \"a.wasm\"\n[[plugin.task]]\nname = \"t\"\n[[plugin]]\npath = \"b.wasm\"\n[[plugin.task]]\nname = \"t\"\n",
			`fuzz.toml:8: plugin "b.wasm": task "t": task is also declared by plugin "a.wasm"`},
		{"bad isolation", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\nisolation = \"shared\"\n", `isolation "shared" is not "pooled" or "fresh"`},
		{"bad size", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\nmax_memory = \"lots\"\n", `"lots" is not a size`},
		{"bad duration", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\ntimeout = \"soon\"\n", `"soon" is not a duration`},
		{"relative mount", "[[plugin]]\npath = \"p.wasm\"\n[plugin.capabilities]\nallowed_paths = [\"data\"]\n", `allowed_paths entry "data" must be an absolute host folder`},
		{"negative log lines", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\nmax_log_lines = -1\n", `limits.max_log_lines -1 is negative`},
		{"vars too big", "[[plugin]]\npath = \"p.wasm\"\n[plugin.vars]\nbig = \"" + strings.Repeat("x", 1<<20) + "\"\n", `fuzz.toml:3: plugin "p.wasm": [plugin.vars] hold 1048579 bytes, over the 1MiB`},
		{"workflow without steps", "[[workflow]]\nname = \"w\"\n", `fuzz.toml:2: workflow "w" has no [[workflow.step]] entries`},
		{"workflow step with both", "[[workflow]]\nname = \"w\"\n[[workflow.step]]\ntask = \"a\"\nparallel = [{ task = \"b\" }]\n", `set task or parallel, not both`},
		{"workflow twice", "[[workflow]]\nname = \"w\"\n[[workflow.step]]\ntask = \"a\"\n[[workflow]]\nname = \"w\"\n[[workflow.step]]\ntask = \"a\"\n", `fuzz.toml:6: workflow "w" is defined twice`},
		// The exact key, not the first of its name in the file (issue 15).
		{"second task's retries", "[defaults]\nmax_retries = 2\n[[plugin]]\npath = \"a.wasm\"\n[[plugin.task]]\nname = \"t\"\nmax_retries = 1\n[[plugin]]\npath = \"b.wasm\"\n[[plugin.task]]\nname = \"u\"\nmax_retries = 0\n[[plugin.task]]\nname = \"v\"\nmax_retries = -1\n",
			`fuzz.toml:15: plugin "b.wasm": task "v": max_retries is negative`},
		{"pool size, not max_memory", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\nmax_memory = \"64MiB\"\npool_size = 5000\n", `fuzz.toml:5: plugin "p.wasm": limits.pool_size 5000 is outside 1..1024`},
		{"defaults' limits", "[defaults.limits]\ntimeout = \"1s\"\nisolation = \"x\"\n", `fuzz.toml:3: defaults: limits.isolation "x"`},
		{"second plugin's size", "[[plugin]]\npath = \"a.wasm\"\n[plugin.limits]\nmax_memory = \"64MiB\"\n[[plugin]]\npath = \"b.wasm\"\n[plugin.limits]\nmax_memory = \"lots\"\n", `fuzz.toml:8: plugin "b.wasm": max_memory: "lots" is not a size`},
		// A wrong type, in the same form as the rest.
		{"retries as text", "[[plugin]]\npath = \"p.wasm\"\n[[plugin.task]]\nname = \"t\"\nmax_retries = \"three\"\n", `fuzz.toml:5: plugin "p.wasm": task "t": max_retries: is a string; want a whole number (no quotes)`},
		{"timeout as number", "[[plugin]]\npath = \"p.wasm\"\n[plugin.limits]\ntimeout = 5\n", `fuzz.toml:4: plugin "p.wasm": timeout: is a whole number; want a string such as "30s"`},
		{"hosts as text", "[[plugin]]\npath = \"p.wasm\"\n[plugin.capabilities]\nallowed_hosts = \"a.com\"\n", `fuzz.toml:4: plugin "p.wasm": allowed_hosts: is a string; want an array`},
		{"queue as number", "[defaults]\nqueue = 7\n", `fuzz.toml:2: queue: is a whole number; want a string in quotes`},
		{"config value", "[[plugin]]\npath = \"p.wasm\"\n[plugin.config]\nk = true\n", `fuzz.toml:4: plugin "p.wasm": k: is true or false; want a string in quotes`},
		// Retry backoff (issue 18).
		{"retry backoff", "[[plugin]]\npath = \"p.wasm\"\n[[plugin.task]]\nname = \"t\"\nretry_backoff = \"linear\"\n", `fuzz.toml:5: plugin "p.wasm": task "t": retry_backoff "linear" is not "exponential" or "fixed"`},
		{"retry max below delay", "[[plugin]]\npath = \"p.wasm\"\n[[plugin.task]]\nname = \"t\"\nretry_delay = \"10s\"\nretry_max_delay = \"1s\"\n", `fuzz.toml:6: plugin "p.wasm": task "t": retry_max_delay 1s is below retry_delay 10s`},
		{"retry jitter", "[[plugin]]\npath = \"p.wasm\"\n[[plugin.task]]\nname = \"t\"\nretry_jitter = 2.0\n", `fuzz.toml:5: plugin "p.wasm": task "t": retry_jitter 2 is outside 0 to 1`},
		// Schedules (issue 16): each mistake at its own key's line.
		{"schedule bad cron", "[[schedule]]\nname = \"s\"\ntask = \"t\"\ncron = \"*/5 * * *\"\n", `fuzz.toml:4: schedule "s": cron "*/5 * * *": expected exactly 5 fields`},
		{"schedule both", "[[schedule]]\nname = \"s\"\ntask = \"t\"\ncron = \"@hourly\"\nevery = \"1m\"\n", `fuzz.toml:5: schedule "s": set cron or every, not both`},
		{"schedule no timetable", "[[schedule]]\nname = \"s\"\ntask = \"t\"\n", `fuzz.toml:2: schedule "s": set cron = "*/5 * * * *" or every = "30s"`},
		{"schedule no task", "[[schedule]]\nname = \"s\"\nevery = \"1m\"\n", `fuzz.toml:1: schedule "s": task "" is missing`},
		{"schedule bad every", "[[schedule]]\nname = \"s\"\ntask = \"t\"\nevery = \"soon\"\n", `fuzz.toml:4: every: "soon" is not a duration`},
		{"schedule short every", "[[schedule]]\nname = \"s\"\ntask = \"t\"\nevery = \"10ms\"\n", `fuzz.toml:4: schedule "s": every 10ms is under a second`},
		{"schedule zone", "[[schedule]]\nname = \"s\"\ntask = \"t\"\ncron = \"@daily\"\ntimezone = \"Mars/Olympus\"\n", `fuzz.toml:5: schedule "s": timezone "Mars/Olympus" is not an IANA zone`},
		{"schedule twice", "[[schedule]]\nname = \"s\"\ntask = \"t\"\nevery = \"1m\"\n[[schedule]]\nname = \"s\"\ntask = \"t\"\nevery = \"1m\"\n", `fuzz.toml:6: schedule "s" is defined twice`},
		{"schedule unknown key", "[[schedule]]\nname = \"s\"\ntask = \"t\"\nevery = \"1m\"\ncorn = \"x\"\n", `fuzz.toml:5: unknown key "schedule.corn"`},
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

func TestParseManifestSchedules(t *testing.T) {
	m, err := host.ParseManifest("m.toml", []byte(`
[[schedule]]
name = "nightly"
task = "csv_report"
cron = "0 3 * * *"
timezone = "Europe/Paris"
input = { url = "https://example.com/a.csv", n = 2 }
[[schedule]]
name = "ping"
task = "echo"
every = "30s"
queue = "fast"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Schedules) != 2 || m.Schedules[0].Cron != "0 3 * * *" || m.Schedules[1].Every.String() != "30s" || m.Schedules[1].Queue != "fast" {
		t.Fatalf("parsed %+v", m.Schedules)
	}
	for i, want := range []string{`{"n":2,"url":"https://example.com/a.csv"}`, `null`} {
		in, err := m.Schedules[i].InputJSON()
		if err != nil || string(in) != want {
			t.Errorf("schedule %d input %s, %v; want %s", i, in, err, want)
		}
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
