package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"taskhost.dev/abi"
)

// point has its own codec. encoding/json would hand UnmarshalJSON the value
// without the whitespace around it and compact what MarshalJSON writes;
// called directly, they see and keep the bytes as they are.
type point struct{ X, Y int }

// pointInput is the last input point's UnmarshalJSON saw.
var pointInput string

func (p *point) UnmarshalJSON(b []byte) error {
	pointInput = string(b)
	var xy [2]int
	if err := json.Unmarshal(b, &xy); err != nil {
		return errors.New("point: want [x,y]")
	}
	p.X, p.Y = xy[0], xy[1]
	return nil
}

func (p point) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "[%d, %d]", p.X, p.Y), nil }

// label marshals through a pointer receiver.
type label struct{ s string }

func (l *label) MarshalJSON() ([]byte, error) { return json.Marshal("label:" + l.s) }

func TestRegisterUsesTypesOwnCodecs(t *testing.T) {
	Register("test-swap", func(p point) (point, error) { return point{p.Y, p.X}, nil })
	Register("test-label", func(p point) (label, error) { return label{strings.Repeat("x", p.X)}, nil })
	Register("test-nil", func(p point) (*point, error) { return nil, nil })
	Register("test-plain", func(in struct{ A int }) (struct{ B int }, error) { return struct{ B int }{in.A}, nil })
	for _, c := range []struct {
		task, in, want, err string
	}{
		{"test-swap", ` [1,2]`, `[2, 1]`, ""},
		{"test-swap", `{"X":1}`, "", "decoding input: point: want [x,y]"},
		{"test-label", `[3,0]`, `"label:xxx"`, ""},
		{"test-nil", `[0,0]`, `null`, ""}, // a nil pointer is null, as encoding/json writes it
		{"test-plain", `{"A":7}`, `{"B":7}`, ""},
		{"test-plain", `{"A":"x"}`, "", "decoding input: json: cannot unmarshal"},
	} {
		out, err := Call(c.task, []byte(c.in))
		if c.err != "" {
			var te *taskError
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &te) || te.kind != abi.KindBadInput {
				t.Errorf("%s(%s): error %v, want a bad-input error containing %q", c.task, c.in, err, c.err)
			}
			continue
		}
		if err != nil || string(out) != c.want {
			t.Errorf("%s(%s) = %s, %v; want %s", c.task, c.in, out, err, c.want)
		}
		if c.task == "test-swap" && pointInput != c.in {
			t.Errorf("%s: UnmarshalJSON got %q, want the input as it came, %q", c.task, pointInput, c.in)
		}
	}
}
