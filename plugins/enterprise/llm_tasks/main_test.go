package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"taskhost.dev/abi"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

// fakeLLM is an OpenAI-compatible endpoint on loopback that echoes the last
// message, upper-cased, and records what it was sent.
func fakeLLM(t *testing.T) (*httptest.Server, *http.Request, *[]byte) {
	var last http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last = *r
		body, _ = io.ReadAll(r.Body)
		if r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "not found", 404)
			return
		}
		var req struct {
			Model    string
			Messages []Message
		}
		json.Unmarshal(body, &req)
		if req.Model == "overloaded" {
			http.Error(w, "busy", 503)
			return
		}
		fmt.Fprintf(w, `{"model":%q,"choices":[{"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"total_tokens":7}}`,
			req.Model, strings.ToUpper(req.Messages[len(req.Messages)-1].Content))
	}))
	t.Cleanup(srv.Close)
	return srv, &last, &body
}

func TestChatThroughTheHost(t *testing.T) {
	srv, last, body := fakeLLM(t)
	h := testplugins.Load(t, "plugins/enterprise/llm_tasks", fmt.Sprintf(`
[plugin.capabilities]
allowed_hosts = ["127.0.0.1"]
[plugin.config]
endpoint = "%s/v1"
model = "tiny"
api_key = "sekret"
`, srv.URL))
	ctx := context.Background()
	out, err := h.Run(ctx, "chat", []byte(`{"prompt":"hello","system":"be loud"}`), host.Invocation{})
	if err != nil {
		t.Fatal(err)
	}
	var got ChatOutput
	json.Unmarshal(out, &got)
	if got.Content != "HELLO" || got.Model != "tiny" || got.FinishReason != "stop" || string(got.Usage) != `{"total_tokens":7}` {
		t.Errorf("chat = %s", out)
	}
	if last.Header.Get("Authorization") != "Bearer sekret" || !strings.Contains(string(*body), `"role":"system","content":"be loud"`) {
		t.Errorf("the endpoint got %v %s", last.Header, *body)
	}
	// A 503 is a retryable failure; bad input is not.
	_, err = h.Run(ctx, "chat", []byte(`{"prompt":"x","model":"overloaded"}`), host.Invocation{})
	if te, ok := host.AsTaskError(err); !ok || !te.Retryable || !strings.Contains(te.Message, "HTTP 503") {
		t.Errorf("a 503: %v", err)
	}
	_, err = h.Run(ctx, "chat", []byte(`{}`), host.Invocation{})
	if te, ok := host.AsTaskError(err); !ok || te.Kind != abi.KindBadInput {
		t.Errorf("no prompt: %v", err)
	}
}

func TestChatNeedsAllowedHost(t *testing.T) {
	srv, _, _ := fakeLLM(t)
	h := testplugins.Load(t, "plugins/enterprise/llm_tasks", fmt.Sprintf("[plugin.config]\nendpoint = \"%s/v1\"\nmodel = \"tiny\"\n", srv.URL))
	_, err := h.Run(context.Background(), "chat", []byte(`{"prompt":"hi"}`), host.Invocation{})
	if te, ok := host.AsTaskError(err); !ok || te.Kind != abi.KindSandbox || !strings.Contains(te.Message, "allowed_hosts") {
		t.Errorf("a request to a host not in allowed_hosts: %v", err)
	}
	h = testplugins.Load(t, "plugins/enterprise/llm_tasks", "")
	_, err = h.Run(context.Background(), "chat", []byte(`{"prompt":"hi"}`), host.Invocation{})
	if te, ok := host.AsTaskError(err); !ok || te.Retryable || !strings.Contains(te.Message, `config "endpoint" is not set`) {
		t.Errorf("no endpoint configured: %v", err)
	}
}
