package celery

import (
	"encoding/json"
	"slices"
	"testing"

	"taskhost.dev/abi"
	"taskhost.dev/internal/jsontest"
)

// Revokes as Celery 5.2's app.control.revoke published them on
// /4.celery.pidbox (captured with redis-cli SUBSCRIBE): revoke('abc-123',
// terminate=True), and revoke(['x1', 'x2'], destination=['celery@h1']).
const (
	pyRevokeTerminate = `{"body": "eyJtZXRob2QiOiAicmV2b2tlIiwgImFyZ3VtZW50cyI6IHsidGFza19pZCI6ICJhYmMtMTIzIiwgInRlcm1pbmF0ZSI6IHRydWUsICJzaWduYWwiOiAiU0lHVEVSTSJ9LCAiZGVzdGluYXRpb24iOiBudWxsLCAicGF0dGVybiI6IG51bGwsICJtYXRjaGVyIjogbnVsbH0=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"clock": 1, "expires": 1796410854.6442816}, "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "celery.pidbox", "routing_key": ""}, "priority": 0, "body_encoding": "base64", "delivery_tag": "40581f41-6860-4cc8-9ba3-e85b330d0aac"}}`
	pyRevokeTo        = `{"body": "eyJtZXRob2QiOiAicmV2b2tlIiwgImFyZ3VtZW50cyI6IHsidGFza19pZCI6IFsieDEiLCAieDIiXSwgInRlcm1pbmF0ZSI6IGZhbHNlLCAic2lnbmFsIjogIlNJR1RFUk0ifSwgImRlc3RpbmF0aW9uIjogWyJjZWxlcnlAaDEiXSwgInBhdHRlcm4iOiBudWxsLCAibWF0Y2hlciI6IG51bGx9", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"clock": 2, "expires": 1796410854.6456428}, "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "celery.pidbox", "routing_key": ""}, "priority": 0, "body_encoding": "base64", "delivery_tag": "af3c253b-6eb7-458a-bbf8-cb9804b19afa"}}`
)

func TestDecodePythonRevoke(t *testing.T) {
	tests := []struct {
		name, msg string
		ids       []string
		terminate bool
		for_      map[string]bool // node -> addressed
	}{
		{"terminate", pyRevokeTerminate, []string{"abc-123"}, true, map[string]bool{"celery@h1": true, "w@h2": true}},
		{"destination", pyRevokeTo, []string{"x1", "x2"}, false, map[string]bool{"celery@h1": true, "w@h2": false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := decodeControl(tc.msg)
			if err != nil || c.Method != "revoke" {
				t.Fatalf("decodeControl = %+v, %v", c, err)
			}
			var args revokeArgs
			if err := json.Unmarshal(c.Arguments, &args); err != nil || !slices.Equal(args.ids(), tc.ids) || args.Terminate != tc.terminate {
				t.Errorf("arguments %s: ids %v terminate %v, want %v %v", c.Arguments, args.ids(), args.Terminate, tc.ids, tc.terminate)
			}
			for node, want := range tc.for_ {
				if got := c.addressed(node); got != want {
					t.Errorf("addressed(%s) = %v, want %v", node, got, want)
				}
			}
		})
	}
}

// TestControlMessageShape: our broadcast reads back, and has the fields a
// kombu virtual channel's Message needs (properties.delivery_tag and
// body_encoding, content-type).
func TestControlMessageShape(t *testing.T) {
	body := map[string]any{"method": "revoke", "arguments": map[string]any{"task_id": "t1", "terminate": true, "signal": "SIGTERM"},
		"destination": nil, "pattern": nil, "matcher": nil}
	raw, err := controlMessage(body, controlExchange, "", map[string]any{"clock": 1, "expires": 0})
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ContentType string `json:"content-type"`
		Properties  struct {
			Tag      string `json:"delivery_tag"`
			Encoding string `json:"body_encoding"`
			Info     struct {
				Exchange string `json:"exchange"`
			} `json:"delivery_info"`
		} `json:"properties"`
	}
	if json.Unmarshal(raw, &m) != nil || m.ContentType != "application/json" || m.Properties.Tag == "" || m.Properties.Encoding != "base64" || m.Properties.Info.Exchange != controlExchange {
		t.Errorf("our control message %s lacks what kombu reads", raw)
	}
	c, err := decodeControl(string(raw))
	if err != nil || c.Method != "revoke" || !jsontest.Equal(c.Arguments, `{"task_id":"t1","terminate":true,"signal":"SIGTERM"}`) {
		t.Errorf("decodeControl(ours) = %+v, %v", c, err)
	}
	if got := controlChannel(4); got != "/4.celery.pidbox" {
		t.Errorf("controlChannel(4) = %q, want kombu's /4.celery.pidbox", got)
	}
}

func TestProgressOf(t *testing.T) {
	tests := []struct {
		raw  string
		want abi.Progress
	}{
		{`{"percent":50,"message":"half way"}`, abi.Progress{Percent: 50, Message: "half way"}},
		{`{"percent":10,"details":{"n":1}}`, abi.Progress{Percent: 10, Details: json.RawMessage(`{"n":1}`)}},
		// A Python task's update_state(state="PROGRESS", meta={...}).
		{`{"current":3,"total":10}`, abi.Progress{Details: json.RawMessage(`{"current":3,"total":10}`)}},
		{`[1,2]`, abi.Progress{Details: json.RawMessage(`[1,2]`)}},
	}
	for _, tc := range tests {
		got := progressOf([]byte(tc.raw))
		if got == nil {
			t.Fatalf("progressOf(%s) = nil", tc.raw)
		}
		sameDetails := len(got.Details) == 0 && len(tc.want.Details) == 0 || jsontest.Equal(got.Details, string(tc.want.Details))
		if got.Percent != tc.want.Percent || got.Message != tc.want.Message || !sameDetails {
			t.Errorf("progressOf(%s) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
	if progressOf(nil) != nil {
		t.Error("progressOf(nothing) is not nil")
	}
}
