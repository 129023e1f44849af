// Package tasks is the code of the core plugin basic_operations: echo, add,
// uppercase and sleep, registered with the SDK in init.
//
// It is a package of its own, not part of the plugin's main package, so
// that easyjson can generate its types' JSON codecs (tasks_easyjson.go,
// made by go generate) and so that native Go, such as the benchmarks'
// native handler, can run the very same task code.
package tasks

//go:generate go tool easyjson -all tasks.go

import (
	"errors"
	"strings"
	"time"

	"taskhost.dev/sdk"
)

func init() {
	sdk.RegisterRaw("echo", Echo, sdk.Describe("returns its input unchanged"))
	sdk.Register("add", Add, sdk.Describe(`adds two numbers: {"a":2,"b":3} gives {"sum":5}`))
	sdk.Register("uppercase", Uppercase, sdk.Describe(`upper-cases a text: {"text":"hi"} gives {"text":"HI"}`))
	sdk.Register("sleep", Sleep, sdk.Describe(`sleeps: {"ms":N} gives {"slept_ms":N}`))
}

// Echo returns its input unchanged.
func Echo(input []byte) ([]byte, error) { return input, nil }

// AddInput is the input of add.
type AddInput struct {
	A *float64 `json:"a"`
	B *float64 `json:"b"`
}

// AddOutput is the output of add.
type AddOutput struct {
	Sum float64 `json:"sum"`
}

// Add adds A and B.
func Add(in AddInput) (AddOutput, error) {
	if in.A == nil || in.B == nil {
		return AddOutput{}, sdk.BadInput(errors.New(`add needs two numbers, "a" and "b"`))
	}
	return AddOutput{Sum: *in.A + *in.B}, nil
}

// Text is the input and output of uppercase.
type Text struct {
	Text string `json:"text"`
}

// Uppercase upper-cases the text.
func Uppercase(in Text) (Text, error) { return Text{Text: strings.ToUpper(in.Text)}, nil }

// SleepInput is the input of sleep.
type SleepInput struct {
	MS int64 `json:"ms"`
}

// SleepOutput is the output of sleep.
type SleepOutput struct {
	SleptMS int64 `json:"slept_ms"`
}

// Sleep sleeps for MS milliseconds.
func Sleep(in SleepInput) (SleepOutput, error) {
	if in.MS < 0 {
		return SleepOutput{}, sdk.BadInput(errors.New(`"ms" must not be negative`))
	}
	start := time.Now()
	time.Sleep(time.Duration(in.MS) * time.Millisecond)
	return SleepOutput{SleptMS: time.Since(start).Milliseconds()}, nil
}
