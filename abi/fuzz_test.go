package abi_test

import (
	"encoding/json"
	"testing"

	"taskhost.dev/abi"
)

// FuzzDecodeError checks that any error text from a plugin decodes to a
// valid error and that an encoded error survives the round trip.
// Run with: go test ./abi -run '^$' -fuzz FuzzDecodeError -fuzztime 3m
func FuzzDecodeError(f *testing.F) {
	f.Add([]byte(`plain text`))
	f.Add([]byte(``))
	f.Add(abi.EncodeError(abi.Error{Message: "bad", Kind: abi.KindBadInput}))
	f.Add([]byte(`{"taskhost_error":{"message":"x","kind":"trap","retryable":true}}`))
	f.Add([]byte(`{"taskhost_error":null}`))
	f.Add([]byte(`  {"taskhost_error":{"message":"\u0000"`))
	f.Fuzz(func(t *testing.T, text []byte) {
		e := abi.DecodeError(text)
		if e.Kind != abi.KindFailed && e.Kind != abi.KindBadInput {
			t.Fatalf("kind %q from %q: a plugin may claim only failed or bad_input", e.Kind, text)
		}
		if e.Retryable == nil {
			t.Fatalf("retryable is nil for %q", text)
		}
		again := abi.DecodeError(abi.EncodeError(e))
		// JSON replaces invalid UTF-8 with U+FFFD; compare with that.
		var msg string
		b, _ := json.Marshal(e.Message)
		json.Unmarshal(b, &msg)
		if again.Message != msg || again.Kind != e.Kind || *again.Retryable != *e.Retryable {
			t.Fatalf("round trip of %+v gave %+v", e, again)
		}
	})
}

// FuzzParseMeta checks that metadata parsing never panics and that what it
// accepts is valid and survives a round trip.
// Run with: go test ./abi -run '^$' -fuzz FuzzParseMeta -fuzztime 3m
func FuzzParseMeta(f *testing.F) {
	f.Add([]byte(`{"abi":1,"tasks":[{"name":"echo"}]}`))
	f.Add([]byte(`{"abi":1,"plugin":"p","tasks":[{"name":"a","function":"f","queue":"q","max_retries":2,"timeout":"3s"}]}`))
	f.Add([]byte(`{"abi":99,"tasks":[]}`))
	f.Add([]byte(`{"abi":1,"tasks":[{"name":"a"},{"name":"a"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := abi.ParseMeta(data)
		if err != nil {
			return
		}
		if !abi.Supports(m.ABI) {
			t.Fatalf("accepted ABI %d", m.ABI)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := abi.ParseMeta(b); err != nil {
			t.Fatalf("re-parsing accepted metadata %s: %v", b, err)
		}
	})
}
