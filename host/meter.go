package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/host/internal/extism"
	"taskhost.dev/host/internal/meter"
)

// meterFuel is the number of function entries and loop iterations a
// metered guest runs between two calls to yield: a few tens of
// microseconds of guest code, so that a timeout stops the guest at once
// and the Go scheduler and garbage collector are never held up for long.
const meterFuel = 10_000

// errStopped ends a metered guest whose call is done; the instance's
// CallContext says why (timeout or cancellation).
var errStopped = errors.New("the call was stopped")

// instantiateMeter provides the function a metered guest calls when its
// fuel runs out.
func instantiateMeter(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(meter.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(yield), nil, []api.ValueType{api.ValueTypeI32}).
		Export(meter.ImportName).
		Instantiate(ctx)
	return err
}

// yield() -> i32: stops the guest if its call is done (its caller gave up
// or its deadline passed: this is where a metered call's timeout is
// enforced), else refuels it.
// Being Go, it is also where the scheduler can preempt a busy guest.
func yield(ctx context.Context, _ api.Module, stack []uint64) {
	if cc, ok := ctx.(*extism.CallContext); ok && !cc.Watch() {
		panic(errStopped)
	}
	select {
	case <-ctx.Done():
		panic(errStopped)
	default:
	}
	stack[0] = meterFuel
}

// meteredModule returns wasm rewritten by the meter, read from dir (the
// compilation cache's folder; "" for none) when an earlier load left it
// there: rewriting a 4 MB Go module takes about 17 ms, reading it back 1.
func meteredModule(dir, digest string, wasm []byte) ([]byte, error) {
	path := ""
	if dir != "" {
		path = filepath.Join(dir, fmt.Sprintf("%s-v%d-%d.wasm", digest, meter.Version, meterFuel))
		if b, err := os.ReadFile(path); err == nil {
			return b, nil
		}
	}
	out, err := meter.Instrument(wasm, meterFuel)
	if err != nil || path == "" {
		return out, err
	}
	// Best effort: a cache that cannot be written costs only time.
	if os.MkdirAll(dir, 0o755) == nil {
		if f, err := os.CreateTemp(dir, ".metered-*"); err == nil {
			_, werr := f.Write(out)
			if cerr := f.Close(); werr == nil && cerr == nil {
				werr = os.Rename(f.Name(), path)
			}
			if werr != nil {
				os.Remove(f.Name())
			}
		}
	}
	return out, nil
}
