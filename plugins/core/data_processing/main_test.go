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
	runBoth(t, "data_processing", []struct{ task, input, want string }{
		{"word_count", `{"text":"a b a"}`, `{"words":3,"unique":2,"lines":1,"characters":5,"top":[{"word":"a","count":2},{"word":"b","count":1}]}`},
		{"word_count", `{"text":""}`, `{"words":0,"unique":0,"lines":0,"characters":0,"top":[]}`},
		{"csv_to_json", `{"csv":"name,age\nann,3\n"}`, `{"records":[{"age":"3","name":"ann"}]}`},
		{"csv_to_json", `{"csv":"a;b\n1;2\n","delimiter":";"}`, `{"records":[{"a":"1","b":"2"}]}`},
		{"csv_to_json", `{"csv":""}`, `{"records":[]}`},
		{"select_fields", `{"records":[{"a":1,"b":2},{"b":3}],"fields":["b","a"],"rename":{"b":"beta"}}`, `{"records":[{"beta":2,"a":1},{"beta":3}]}`},
		{"sha256", `{"text":"abc"}`, `{"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}`},
	})
}
