package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"taskhost.dev/backends"
	"taskhost.dev/host"
)

// check is one readiness check's outcome.
type check struct {
	Name     string        `json:"name"`
	OK       bool          `json:"ok"`
	Message  string        `json:"message"`
	Duration time.Duration `json:"duration_ns"`
}

// probeEngine checks that the engine answers: it pings it
// (backends.Pinger), or asks for a task id that cannot exist and expects
// "not found".
func probeEngine(ctx context.Context, b backends.Backend) check {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if p, ok := b.(backends.Pinger); ok {
		err = p.Ping(ctx)
	} else {
		_, err = b.Result(ctx, "999999999999")
	}
	c := check{Name: "engine", OK: err == nil || errors.Is(err, backends.ErrNotFound), Duration: time.Since(start)}
	c.Message = fmt.Sprintf("%s answered in %s", b.Engine(), c.Duration.Round(time.Microsecond))
	if !c.OK {
		c.Message = fmt.Sprintf("%s did not answer: %v", b.Engine(), err)
	}
	return c
}

func pluginsCheck(h *host.Host, took time.Duration) check {
	return check{Name: "plugins", OK: h != nil, Duration: took,
		Message: fmt.Sprintf("%d plugins, %d tasks loaded and verified", len(h.Plugins()), len(h.Tasks()))}
}

// healthServer serves /healthz (the process is alive), /readyz (config
// valid, plugins loaded, engine reachable) and /metrics.
type healthServer struct {
	srv *http.Server

	ready []check
	b     backends.Backend
}

func startHealth(addr string, h *host.Host, b backends.Backend, m *metrics, static []check, mount func(*http.ServeMux)) (*healthServer, error) {
	hs := &healthServer{b: b, ready: static}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"alive"}`)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		checks := append([]check(nil), hs.ready...)
		checks = append(checks, probeEngine(r.Context(), b))
		ok := true
		for _, c := range checks {
			ok = ok && c.OK
		}
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		writeJSON(w, map[string]any{"ready": ok, "checks": checks})
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if mount != nil {
		mount(mux)
	}
	hs.srv = &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := listen(addr)
	if err != nil {
		return nil, fmt.Errorf("--health-addr %s: %w", addr, err)
	}
	go hs.srv.Serve(ln)
	return hs, nil
}

func (hs *healthServer) close() {
	if hs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hs.srv.Shutdown(ctx)
}
