package main

import (
	"testing"

	"taskhost.dev/internal/testplugins"
	"taskhost.dev/sdk"
)

func TestTasks(t *testing.T) {
	sales := `{"records":[{"region":"eu","amount":10},{"region":"us","amount":"30"},{"region":"eu","amount":20},{"region":"eu","amount":30},{"region":"us","note":"no amount"}]`
	testplugins.RunCases(t, "enterprise/analytics_tasks", sdk.Call, []testplugins.Case{
		{"aggregate", sales + `,"field":"amount"}`,
			`{"groups":[{"count":4,"sum":90,"mean":22.5,"min":10,"max":30}],"skipped":1}`},
		{"aggregate", sales + `,"field":"amount","group_by":"region","percentiles":[50,90]}`,
			`{"groups":[{"key":"eu","count":3,"sum":60,"mean":20,"min":10,"max":30,"percentiles":{"50":20,"90":28}},{"key":"us","count":1,"sum":30,"mean":30,"min":30,"max":30,"percentiles":{"50":30,"90":30}}],"skipped":1}`},
		{"aggregate", `{"csv":"k,v\na,1\nb,2\na,5\n","field":"v","group_by":"k"}`,
			`{"groups":[{"key":"a","count":2,"sum":6,"mean":3,"min":1,"max":5},{"key":"b","count":1,"sum":2,"mean":2,"min":2,"max":2}],"skipped":0}`},
		{"aggregate", `{"records":[],"field":"x"}`, `{"groups":[],"skipped":0}`},
		{"count_by", sales + `,"field":"region"}`, `{"counts":[{"value":"eu","count":3},{"value":"us","count":2}],"total":5}`},
	})
}

func TestBadInput(t *testing.T) {
	for _, in := range []string{`{"field":"x"}`, `{"records":[],"field":""}`, `{"records":[],"field":"x","percentiles":[101]}`, `{"csv":"a,b\n\"x","field":"a"}`} {
		if _, err := sdk.Call("aggregate", []byte(in)); err == nil {
			t.Errorf("aggregate(%s) succeeded", in)
		}
	}
}
