// Command system_tasks is a core plugin: ping, progress_demo and fail.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"taskhost.dev/sdk"
)

func init() {
	sdk.Register("ping", ping, sdk.Describe(`answers {"pong":true} with the plugin's clock and task info`))
	sdk.Register("progress_demo", progressDemo, sdk.Describe(`reports progress through the host: {"steps":5,"delay_ms":10}`))
	sdk.Register("fail", fail, sdk.Describe(`fails on purpose with a non-retryable error: {"message":"..."}`), sdk.MaxRetries(0))
}

func main() {}

// Empty is an input with no fields.
type Empty struct{}

// Pong is the output of ping.
type Pong struct {
	Pong    bool   `json:"pong"`
	Time    string `json:"time"`
	Task    string `json:"task"`
	Attempt int    `json:"attempt"`
}

func ping(Empty) (Pong, error) {
	info := sdk.Info()
	return Pong{Pong: true, Time: time.Now().UTC().Format(time.RFC3339Nano), Task: info.Task, Attempt: info.Attempt}, nil
}

// ProgressInput is the input of progress_demo.
type ProgressInput struct {
	Steps   int `json:"steps"`
	DelayMS int `json:"delay_ms"`
}

// ProgressOutput is the output of progress_demo.
type ProgressOutput struct {
	Steps int `json:"steps"`
}

func progressDemo(in ProgressInput) (ProgressOutput, error) {
	if in.Steps == 0 {
		in.Steps = 5
	}
	if in.Steps < 0 || in.Steps > 10000 || in.DelayMS < 0 {
		return ProgressOutput{}, sdk.BadInput(errors.New(`"steps" must be 1..10000 and "delay_ms" not negative`))
	}
	sdk.Log(slog.LevelInfo, fmt.Sprintf("starting %d steps", in.Steps))
	for i := 1; i <= in.Steps; i++ {
		time.Sleep(time.Duration(in.DelayMS) * time.Millisecond)
		sdk.Progress(float64(i)*100/float64(in.Steps), fmt.Sprintf("step %d of %d", i, in.Steps))
	}
	return ProgressOutput{Steps: in.Steps}, nil
}

// FailInput is the input of fail.
type FailInput struct {
	Message string `json:"message"`
}

func fail(in FailInput) (struct{}, error) {
	msg := in.Message
	if msg == "" {
		msg = "failed on purpose"
	}
	return struct{}{}, sdk.Permanent(errors.New(msg))
}
