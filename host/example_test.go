package host_test

import (
	"context"
	"fmt"

	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

// Load the plugins of a folder and run a task in the sandbox.
func Example() {
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{PluginsDir: testplugins.CoreDir()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(ctx)

	out, err := h.Run(ctx, "add", []byte(`{"a":2,"b":3}`), host.Invocation{ID: "job-1"})
	fmt.Println(string(out), err)
	// Output: {"sum":5} <nil>
}

// A failed task is a *host.TaskError whose kind and retryable flag tell an
// engine adapter what to do.
func ExampleTaskError() {
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{PluginsDir: testplugins.CoreDir()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(ctx)

	_, err = h.Run(ctx, "fail", []byte(`{"message":"disk full"}`), host.Invocation{})
	if te, ok := host.AsTaskError(err); ok {
		fmt.Println(te.Kind, te.Retryable, te.Message)
	}
	// Output: failed false disk full
}
