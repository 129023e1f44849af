package main

import (
	"testing"

	"taskhost.dev/internal/testplugins"
	"taskhost.dev/sdk"
)

func TestTasks(t *testing.T) {
	testplugins.RunCases(t, "data_processing", sdk.Call, []testplugins.Case{
		{"word_count", `{"text":"a b a"}`, `{"words":3,"unique":2,"lines":1,"characters":5,"top":[{"word":"a","count":2},{"word":"b","count":1}]}`},
		{"word_count", `{"text":""}`, `{"words":0,"unique":0,"lines":0,"characters":0,"top":[]}`},
		{"csv_to_json", `{"csv":"name,age\nann,3\n"}`, `{"records":[{"age":"3","name":"ann"}]}`},
		{"csv_to_json", `{"csv":"a;b\n1;2\n","delimiter":";"}`, `{"records":[{"a":"1","b":"2"}]}`},
		{"csv_to_json", `{"csv":""}`, `{"records":[]}`},
		{"select_fields", `{"records":[{"a":1,"b":2},{"b":3}],"fields":["b","a"],"rename":{"b":"beta"}}`, `{"records":[{"beta":2,"a":1},{"beta":3}]}`},
		{"sha256", `{"text":"abc"}`, `{"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}`},
	})
}
