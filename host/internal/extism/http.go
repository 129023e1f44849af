package extism

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
)

var errRedirectDenied = errors.New("host is not in allowed_hosts")

// httpRequest is the JSON document a plugin passes to http_request.
type httpRequest struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
}

// Allows reports whether host may be reached under the policy.
func (p *HTTPPolicy) Allows(host string) bool {
	if p == nil {
		return false
	}
	host = strings.ToLower(host)
	for _, pattern := range p.AllowedHosts {
		pattern = strings.ToLower(pattern)
		if pattern == host {
			return true
		}
		if ok, _ := path.Match(pattern, host); ok {
			return true
		}
	}
	return false
}

func (s *State) deny(format string, args ...any) {
	s.fail(&Fault{Kind: abi.KindSandbox, Msg: fmt.Sprintf(format, args...)})
}

func (s *State) httpRequest(ctx context.Context, reqOff, bodyOff uint64) uint64 {
	s.lastStatus, s.lastHeaders = 0, nil
	var req httpRequest
	if err := json.Unmarshal(s.read(reqOff), &req); err != nil {
		s.trap("http_request: the request is not valid JSON: %v", err)
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		s.trap("http_request: %q is not an http or https URL", req.URL)
	}
	if !s.HTTP.Allows(u.Hostname()) {
		s.deny("HTTP request to %q denied: host %q is not in allowed_hosts; add it to the plugin's capabilities in the manifest", req.URL, u.Hostname())
	}
	var body io.Reader
	if b := s.read(bodyOff); len(b) > 0 {
		body = bytes.NewReader(bytes.Clone(b))
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	// The request gets a context of its own: the transport may use it after
	// the call, and the instance's context is reused by the next call. It
	// keeps the caller's values (its trace span, so that an instrumented
	// client makes the request a child span and sends traceparent on).
	base := context.Background()
	if cc, ok := ctx.(*CallContext); ok {
		base = context.WithoutCancel(cc.Parent())
	}
	hctx, cancel := context.WithCancel(base)
	defer cancel()
	if !s.Deadline.IsZero() {
		hctx, cancel = context.WithDeadline(hctx, s.Deadline)
		defer cancel()
	}
	if cc, ok := ctx.(*CallContext); ok && !cc.Watch() {
		s.trap("http_request: the call was stopped before the request")
	}
	defer context.AfterFunc(ctx, cancel)()
	hreq, err := http.NewRequestWithContext(hctx, method, req.URL, body)
	if err != nil {
		s.trap("http_request: %v", err)
	}
	for k, v := range req.Headers {
		hreq.Header.Set(k, v)
	}
	client := *s.HTTP.Client
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if !s.HTTP.Allows(r.URL.Hostname()) {
			return fmt.Errorf("redirect to %q: %w", r.URL, errRedirectDenied)
		}
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects")
		}
		return nil
	}
	resp, err := client.Do(hreq)
	if err != nil {
		if errors.Is(err, errRedirectDenied) {
			s.deny("HTTP request to %q: %v", req.URL, err)
		}
		// A network failure is the plugin's to handle, as with Extism:
		// status 0 and no body.
		if s.Log != nil {
			s.Log(ctx, slog.LevelDebug, "http_request failed: "+err.Error())
		}
		return 0
	}
	defer resp.Body.Close()
	limit := s.HTTP.MaxResponseBytes
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0
	}
	if int64(len(data)) > limit {
		s.deny("HTTP response from %q is larger than max_http_response of %d bytes", req.URL, limit)
	}
	s.lastStatus = int32(resp.StatusCode)
	s.lastHeaders = make(map[string]string, len(resp.Header))
	for k, v := range resp.Header {
		s.lastHeaders[strings.ToLower(k)] = strings.Join(v, ",")
	}
	return s.write(data)
}

var httpFuncs = []hostFunc{
	{"http_request", []api.ValueType{i64, i64}, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		st[0] = s.httpRequest(ctx, st[0], st[1])
	}},
	{"http_status_code", nil, []api.ValueType{i32}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = uint64(uint32(stateOf(ctx).lastStatus))
	}},
	{"http_headers", nil, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if s.lastHeaders == nil {
			st[0] = 0
			return
		}
		b, _ := json.Marshal(s.lastHeaders)
		st[0] = s.write(b)
	}},
}
