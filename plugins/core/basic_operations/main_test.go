package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
	"taskhost.dev/sdk"
)

// runBoth runs each case natively (sdk.Call) and through the host on the
// built module, and checks both give the wanted output.
func runBoth(t *testing.T, plugin string, cases []struct{ task, input, want string }) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(testplugins.Build(t, "plugins/core/"+plugin), filepath.Join(dir, plugin+".wasm")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{PluginsDir: dir, CacheDir: filepath.Join(os.TempDir(), "taskhost-test-cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, c := range cases {
		native, err := sdk.Call(c.task, []byte(c.input))
		if err != nil || !jsonEqual(native, c.want) {
			t.Errorf("native %s(%s) = %s, %v; want %s", c.task, c.input, native, err, c.want)
		}
		out, err := h.Run(ctx, c.task, []byte(c.input), host.Invocation{})
		if err != nil || !jsonEqual(out, c.want) {
			t.Errorf("host %s(%s) = %s, %v; want %s", c.task, c.input, out, err, c.want)
		}
	}
}

func jsonEqual(got []byte, want string) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

func TestTasks(t *testing.T) {
	runBoth(t, "basic_operations", []struct{ task, input, want string }{
		{"echo", `{"any":["json",1,true,null]}`, `{"any":["json",1,true,null]}`},
		{"add", `{"a":2,"b":3}`, `{"sum":5}`},
		{"add", `{"a":-1.5,"b":0.25}`, `{"sum":-1.25}`},
		{"uppercase", `{"text":"hi"}`, `{"text":"HI"}`},
		{"uppercase", `{"text":"grüße"}`, `{"text":"GRÜßE"}`}, // Go has no special casing: ß stays
		{"sleep", `{"ms":0}`, `{"slept_ms":0}`},
	})
}
