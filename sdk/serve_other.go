//go:build !wasip1

package sdk

import (
	"context"
	"log/slog"

	"taskhost.dev/abi"
)

// Outside WebAssembly these do nothing, so that task code that reports
// progress can be unit-tested natively with Call.

// Progress reports progress; a no-op outside WebAssembly.
func Progress(percent float64, message string) {}

// Heartbeat reports liveness; a no-op outside WebAssembly.
func Heartbeat() {}

// Info returns the running task's description; empty outside WebAssembly.
func Info() abi.TaskInfo { return abi.TaskInfo{} }

// Config returns a plugin config value; never found outside WebAssembly.
func Config(key string) (string, bool) { return "", false }

// Log writes to slog's default logger outside WebAssembly.
func Log(level slog.Level, msg string) { slog.Log(context.Background(), level, msg) }
