package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"taskhost.dev/backends"
	"taskhost.dev/host"
)

// Check is one readiness check's outcome, as /readyz and host health show
// it.
type Check struct {
	Name     string        `json:"name"`
	OK       bool          `json:"ok"`
	Message  string        `json:"message"`
	Duration time.Duration `json:"-"`
}

// MarshalJSON writes the duration as Go writes it ("1.25ms").
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
	}{plain(c), c.Duration.Round(time.Microsecond).String()})
}

// ProbeEngine checks that the engine answers (backends.Client.Ping), within
// five seconds.
func ProbeEngine(ctx context.Context, c *backends.Client) Check {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := c.Ping(ctx)
	ch := Check{Name: "engine", OK: err == nil, Duration: time.Since(start)}
	ch.Message = fmt.Sprintf("%s answered in %s", c.Engine(), ch.Duration.Round(time.Microsecond))
	if !ch.OK {
		ch.Message = fmt.Sprintf("%s did not answer: %v", c.Engine(), err)
	}
	return ch
}

// PluginsCheck reports the loaded plugins, which took so long to load.
func PluginsCheck(h *host.Host, took time.Duration) Check {
	return Check{Name: "plugins", OK: h != nil, Duration: took,
		Message: fmt.Sprintf("%d plugins, %d tasks loaded and verified", len(h.Plugins()), len(h.Tasks()))}
}

// healthServer serves /healthz (the process is alive), /readyz (config
// valid, plugins loaded, engine reachable) and /metrics.
type healthServer struct {
	srv   *http.Server
	ln    net.Listener
	ready []Check
}

func startHealth(addr string, c *backends.Client, m *metrics, static []Check, mount func(*http.ServeMux)) (*healthServer, error) {
	hs := &healthServer{ready: static}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"alive"}`)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		checks := append([]Check(nil), hs.ready...)
		checks = append(checks, ProbeEngine(r.Context(), c))
		ok := true
		for _, c := range checks {
			ok = ok && c.OK
		}
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"ready": ok, "checks": checks})
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if mount != nil {
		mount(mux)
	}
	hs.srv = &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health address %s: %w", addr, err)
	}
	hs.ln = ln
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
