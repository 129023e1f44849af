// Command basic_operations is a core plugin: echo, add, uppercase, sleep.
//
// Build it with make plugins; the task logic is plain Go and is tested
// natively as well as through the host.
package main

import (
	"errors"
	"strings"
	"time"

	"taskhost.dev/sdk"
)

func init() {
	sdk.RegisterRaw("echo", echo, sdk.Describe("returns its input unchanged"))
	sdk.Register("add", add, sdk.Describe(`adds two numbers: {"a":2,"b":3} gives {"sum":5}`))
	sdk.Register("uppercase", uppercase, sdk.Describe(`upper-cases a text: {"text":"hi"} gives {"text":"HI"}`))
	sdk.Register("sleep", sleep, sdk.Describe(`sleeps: {"ms":N} gives {"slept_ms":N}`))
}

func main() {}

func echo(input []byte) ([]byte, error) { return input, nil }

// AddInput is the input of add.
type AddInput struct {
	A *float64 `json:"a"`
	B *float64 `json:"b"`
}

// AddOutput is the output of add.
type AddOutput struct {
	Sum float64 `json:"sum"`
}

func add(in AddInput) (AddOutput, error) {
	if in.A == nil || in.B == nil {
		return AddOutput{}, sdk.BadInput(errors.New(`add needs two numbers, "a" and "b"`))
	}
	return AddOutput{Sum: *in.A + *in.B}, nil
}

// Text is the input and output of uppercase.
type Text struct {
	Text string `json:"text"`
}

func uppercase(in Text) (Text, error) { return Text{Text: strings.ToUpper(in.Text)}, nil }

// SleepInput is the input of sleep.
type SleepInput struct {
	MS int64 `json:"ms"`
}

// SleepOutput is the output of sleep.
type SleepOutput struct {
	SleptMS int64 `json:"slept_ms"`
}

func sleep(in SleepInput) (SleepOutput, error) {
	if in.MS < 0 {
		return SleepOutput{}, sdk.BadInput(errors.New(`"ms" must not be negative`))
	}
	start := time.Now()
	time.Sleep(time.Duration(in.MS) * time.Millisecond)
	return SleepOutput{SleptMS: time.Since(start).Milliseconds()}, nil
}
