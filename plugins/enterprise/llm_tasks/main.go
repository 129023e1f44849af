// Command llm_tasks is an enterprise plugin: a chat completion from an
// OpenAI-compatible HTTP endpoint. The endpoint, model and API key come
// from the plugin's config (endpoint, model, api_key); the endpoint's host
// must be in the plugin's allowed_hosts, or the host refuses the request.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"taskhost.dev/sdk"
)

func init() {
	sdk.Register("chat", chat, sdk.Describe(`a chat completion: {"messages":[{"role":"user","content":"hi"}]} or {"prompt":"hi"} gives {"content":"...","model":"...","usage":{...}}`))
}

func main() {}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatInput is chat's input: messages, or a prompt (one user message,
// after an optional system message).
type ChatInput struct {
	Messages    []Message `json:"messages,omitempty"`
	Prompt      string    `json:"prompt,omitempty"`
	System      string    `json:"system,omitempty"`
	Model       string    `json:"model,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
}

// ChatOutput is chat's output.
type ChatOutput struct {
	Content      string          `json:"content"`
	Model        string          `json:"model"`
	FinishReason string          `json:"finish_reason,omitempty"`
	Usage        json.RawMessage `json:"usage,omitempty"`
}

// send performs an HTTP request: the host's, which checks allowed_hosts.
var send = sdk.HTTP

func chat(in ChatInput) (ChatOutput, error) {
	endpoint, ok := sdk.Config("endpoint")
	if !ok || endpoint == "" {
		return ChatOutput{}, sdk.Permanent(errors.New(`config "endpoint" is not set: name an OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1) in the plugin's config, and its host in allowed_hosts`))
	}
	msgs := in.Messages
	if in.Prompt != "" {
		if in.System != "" {
			msgs = append(msgs, Message{"system", in.System})
		}
		msgs = append(msgs, Message{"user", in.Prompt})
	}
	if len(msgs) == 0 {
		return ChatOutput{}, sdk.BadInput(errors.New(`give "messages" or "prompt"`))
	}
	model := in.Model
	if model == "" {
		model, _ = sdk.Config("model")
	}
	if model == "" {
		return ChatOutput{}, sdk.BadInput(errors.New(`no model: give "model" or set config "model"`))
	}
	req := map[string]any{"model": model, "messages": msgs}
	if in.Temperature != nil {
		req["temperature"] = *in.Temperature
	}
	if in.MaxTokens > 0 {
		req["max_tokens"] = in.MaxTokens
	}
	body, _ := json.Marshal(req)
	headers := map[string]string{"Content-Type": "application/json"}
	if key, ok := sdk.Config("api_key"); ok && key != "" {
		headers["Authorization"] = "Bearer " + key
	}
	url := strings.TrimSuffix(endpoint, "/") + "/chat/completions"
	status, resp, err := send("POST", url, headers, body)
	if err != nil {
		return ChatOutput{}, fmt.Errorf("POST %s: %w", url, err)
	}
	if status == 429 || status >= 500 {
		return ChatOutput{}, fmt.Errorf("POST %s: HTTP %d (retryable): %.200s", url, status, resp)
	}
	if status < 200 || status > 299 {
		return ChatOutput{}, sdk.Permanent(fmt.Errorf("POST %s: HTTP %d: %.200s", url, status, resp))
	}
	var r struct {
		Model   string `json:"model"`
		Choices []struct {
			Message      Message `json:"message"`
			FinishReason string  `json:"finish_reason"`
		} `json:"choices"`
		Usage json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || len(r.Choices) == 0 {
		return ChatOutput{}, sdk.Permanent(fmt.Errorf("POST %s: the answer is not a chat completion with a choice: %.200s", url, resp))
	}
	return ChatOutput{Content: r.Choices[0].Message.Content, Model: r.Model, FinishReason: r.Choices[0].FinishReason, Usage: r.Usage}, nil
}
