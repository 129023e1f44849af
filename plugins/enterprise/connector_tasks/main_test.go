package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/abi"
	"taskhost.dev/host"
	"taskhost.dev/internal/jsontest"
	"taskhost.dev/internal/testplugins"
)

func TestConnectorsThroughTheHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.Path, r.Header.Get("X-Token"), b)
	}))
	defer srv.Close()
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	os.Mkdir(filepath.Join(data, "sub"), 0o755)
	h := testplugins.Load(t, "plugins/enterprise/connector_tasks", fmt.Sprintf(`
[plugin.capabilities]
allowed_hosts = ["127.0.0.1"]
allowed_paths = ["%s:/data"]
`, data))
	ctx := context.Background()
	for _, c := range []testplugins.Case{
		{"fetch_url", fmt.Sprintf(`{"url":"%s/x","method":"post","headers":{"X-Token":"t1"},"body":"b"}`, srv.URL), `{"status":200,"body":"POST /x t1 b"}`},
		{"read_file", `{"path":"/data/a.txt"}`, `{"content":"hello","size":5}`},
		{"list_dir", `{"path":"/data"}`, `{"entries":[{"name":"a.txt","size":5,"dir":false},{"name":"sub","size":0,"dir":true}]}`},
	} {
		out, err := h.Run(ctx, c[0], []byte(c[1]), host.Invocation{})
		if err != nil || !jsontest.Equal(out, c[2]) {
			t.Errorf("%s(%s) = %s, %v; want %s", c[0], c[1], out, err, c[2])
		}
	}
	for _, c := range []struct{ task, input, kind, msg string }{
		{"read_file", `{"path":"/etc/passwd"}`, string(abi.KindSandbox), "denied"},
		{"fetch_url", `{"url":"http://example.com/"}`, string(abi.KindSandbox), "allowed_hosts"},
		{"fetch_url", `{"url":"ftp://x"}`, string(abi.KindBadInput), "want an http"},
		{"read_file", `{"path":"/data/missing.txt"}`, string(abi.KindFailed), "missing.txt"},
	} {
		_, err := h.Run(ctx, c.task, []byte(c.input), host.Invocation{})
		te, ok := host.AsTaskError(err)
		if !ok || string(te.Kind) != c.kind || !strings.Contains(te.Error(), c.msg) {
			t.Errorf("%s(%s): %v, want kind %s mentioning %q", c.task, c.input, err, c.kind, c.msg)
		}
	}
}
