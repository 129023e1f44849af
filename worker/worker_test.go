package worker_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/backends"
	"taskhost.dev/host"
	"taskhost.dev/worker"
)

func newClient(t *testing.T) (*host.Host, *backends.Client) {
	t.Helper()
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{CacheDir: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	c, err := backends.Open(ctx, "river", backends.Config{URL: filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return h, c
}

func TestUINeedsCredentialsOffLoopback(t *testing.T) {
	h, c := newClient(t)
	_, err := worker.New(worker.Config{Host: h, Client: c, HealthAddr: "0.0.0.0:0", UI: true})
	if err == nil || !strings.Contains(err.Error(), "needs credentials") {
		t.Fatalf("a UI on every interface without credentials: %v, want refused", err)
	}
	auth, _ := worker.ParseAuth("ops:long-enough-secret")
	if _, err := worker.New(worker.Config{Host: h, Client: c, HealthAddr: "0.0.0.0:0", UI: true, UIAuth: auth}); err != nil {
		t.Fatalf("a UI on every interface with credentials: %v", err)
	}
	if got := worker.LoopbackAddr(":8080"); got != "127.0.0.1:8080" {
		t.Errorf("LoopbackAddr(:8080) = %s", got)
	}
}

func TestUIAuth(t *testing.T) {
	h, c := newClient(t)
	for _, tc := range []struct {
		creds string
		set   func(*http.Request)
	}{
		{"ops:long-enough-secret", func(r *http.Request) { r.SetBasicAuth("ops", "long-enough-secret") }},
		{"bearer:0123456789abcdef0123", func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef0123") }},
	} {
		auth, err := worker.ParseAuth(tc.creds)
		if err != nil {
			t.Fatal(err)
		}
		w, err := worker.New(worker.Config{Host: h, Client: c, HealthAddr: "127.0.0.1:0", UI: true, UIAuth: auth})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		select {
		case <-w.Ready():
		case err := <-done:
			t.Fatalf("Run: %v", err)
		}
		url := "http://" + w.HealthAddr() + "/ui/"
		get := func(set func(*http.Request)) int {
			req, _ := http.NewRequest("GET", url, nil)
			if set != nil {
				set(req)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := get(nil); code != http.StatusUnauthorized {
			t.Errorf("%s: no credentials: %d, want 401", tc.creds, code)
		}
		if code := get(func(r *http.Request) { r.SetBasicAuth("ops", "wrong-password") }); code != http.StatusUnauthorized {
			t.Errorf("%s: wrong credentials: %d, want 401", tc.creds, code)
		}
		if code := get(tc.set); code != http.StatusOK {
			t.Errorf("%s: good credentials: %d, want 200", tc.creds, code)
		}
		if resp, err := http.Get("http://" + w.HealthAddr() + "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Errorf("/healthz needs no credentials: %v, %v", resp, err)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseAuth(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"nocolon", "want"}, {"ops:short", "8 characters"}, {":password123", "user name is empty"}, {"bearer:short", "16 characters"},
	} {
		if _, err := worker.ParseAuth(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAuth(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
}

// The host's task error is a backends.Classified: its kind and verdict
// reach the engine as they are.
var _ backends.Classified = (*host.TaskError)(nil)
