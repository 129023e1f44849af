//go:build !unix

package host

import "context"

// withLinearMemory returns ctx: linear memories are Go slices here.
func withLinearMemory(ctx context.Context) context.Context { return ctx }
