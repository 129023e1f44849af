package main

import (
	"testing"

	"taskhost.dev/internal/testplugins"
	"taskhost.dev/sdk"
)

func TestTasks(t *testing.T) {
	testplugins.RunCases(t, "basic_operations", sdk.Call, []testplugins.Case{
		{"echo", `{"any":["json",1,true,null]}`, `{"any":["json",1,true,null]}`},
		{"add", `{"a":2,"b":3}`, `{"sum":5}`},
		{"add", `{"a":-1.5,"b":0.25}`, `{"sum":-1.25}`},
		{"uppercase", `{"text":"hi"}`, `{"text":"HI"}`},
		{"uppercase", `{"text":"grüße"}`, `{"text":"GRÜßE"}`}, // Go has no special casing: ß stays
		{"sleep", `{"ms":0}`, `{"slept_ms":0}`},
	})
}
