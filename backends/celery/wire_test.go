package celery

import (
	"encoding/json"
	"fmt"
	"testing"

	"taskhost.dev/internal/jsontest"
)

func TestInputOf(t *testing.T) {
	tests := []struct {
		args, kwargs, want string
	}{
		{`[]`, `{}`, `{}`},
		{`[]`, `{"a":1,"b":2}`, `{"a":1,"b":2}`},
		{`[{"a":1}]`, `{}`, `{"a":1}`},
		{`[5]`, `{}`, `5`},
		{`[1,2]`, `{}`, `[1,2]`},
		{`[{"sum":3}]`, `{"text":"ok"}`, `{"sum":3,"text":"ok"}`},
		{`[3]`, `{"b":2}`, `{"input":3,"b":2}`},
		{`[1,2]`, `{"c":3}`, `{"input":[1,2],"c":3}`},
	}
	for _, tc := range tests {
		var args []json.RawMessage
		var kwargs map[string]json.RawMessage
		json.Unmarshal([]byte(tc.args), &args)
		json.Unmarshal([]byte(tc.kwargs), &kwargs)
		got, err := InputOf(args, kwargs)
		if err != nil || !jsontest.Equal(got, tc.want) {
			t.Errorf("InputOf(%s, %s) = %s, %v; want %s", tc.args, tc.kwargs, got, err, tc.want)
		}
	}
}

// ArgsOf and InputOf round-trip every JSON input.
func TestArgsOfRoundTrip(t *testing.T) {
	for _, in := range []string{`{}`, `{"a":1}`, `[1,2]`, `"text"`, `7`, `null`, `[{"a":1}]`} {
		got, err := InputOf(ArgsOf(json.RawMessage(in)))
		if err != nil || !jsontest.Equal(got, in) {
			t.Errorf("InputOf(ArgsOf(%s)) = %s, %v", in, got, err)
		}
	}
}

func TestPriorityList(t *testing.T) {
	for prio, want := range map[int]string{0: "q", 2: "q", 3: "q\x06\x163", 5: "q\x06\x163", 6: "q\x06\x166", 9: "q\x06\x169", 10: "q\x06\x169"} {
		if got := priorityList("q", prio); got != want {
			t.Errorf("priorityList(q, %d) = %q, want %q", prio, got, want)
		}
		if q := queueOfList(want); q != "q" {
			t.Errorf("queueOfList(%q) = %q", want, q)
		}
	}
}

func TestDecodeBodyRefusesWhatItCannotRead(t *testing.T) {
	for _, env := range []envelope{
		{ContentType: "application/x-python-serialize", Body: "gAJ9"},
		{ContentType: "application/json", Body: "not base64!", Properties: properties{BodyEncoding: "base64"}},
		{ContentType: "application/json", Body: `{"args": [1]}`},
	} {
		if _, err := decodeBody(&env); err == nil {
			t.Errorf("decodeBody(%+v) accepted it", env)
		}
	}
}

func ExampleInputOf() {
	// send_task("add", args=[{"a": 2}], kwargs={"b": 3})
	in, _ := InputOf([]json.RawMessage{json.RawMessage(`{"a":2}`)}, map[string]json.RawMessage{"b": json.RawMessage(`3`)})
	fmt.Println(string(in))
	// Output: {"a":2,"b":3}
}
