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

// coreFeatures are the WebAssembly features the host runs: 2.0 (no tail
// calls, threads or exception handling). A plugin's runtime and the
// validation of its original module use the same.
const coreFeatures = api.CoreFeaturesV2

// errInvalid marks a module that is not valid WebAssembly on its own.
var errInvalid = errors.New("not a valid WebAssembly module")

// meteredModule returns wasm rewritten by the meter. An error wrapping
// errInvalid means the module is not valid WebAssembly and must be
// refused; any other error is why the meter could not rewrite it, and the
// module then runs as it is, under wazero's own checks.
//
// The original is validated before it is rewritten, so that the host never
// runs a module that is not valid on its own: the rewrite of an invalid
// module could be valid (the meter's own index checks refuse what would
// reach the fuel, but validation is the rule). The rewritten module is
// kept in dir (the compilation cache's folder; "" for none) only once the
// original passed, so that finding it there is the cached verdict, and a
// warm start neither validates nor rewrites: validating a 6 MB Go module
// costs about 0.4 s and rewriting it 17 ms, reading the rewrite back 1 ms.
func meteredModule(ctx context.Context, dir, digest string, wasm []byte) ([]byte, error) {
	path := ""
	if dir != "" {
		// meter.Version is in the name: from version 3 on, a file is
		// written only for a module that passed validation.
		path = filepath.Join(dir, fmt.Sprintf("%s-v%d-%d.wasm", digest, meter.Version, meterFuel))
		if b, err := os.ReadFile(path); err == nil {
			return b, nil
		}
	}
	if err := validate(ctx, wasm); err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalid, err)
	}
	out, err := meter.Instrument(wasm, meterFuel)
	if err != nil {
		return nil, err
	}
	if path != "" {
		writeCache(dir, path, out)
	}
	return out, nil
}

// validate checks that wasm is a valid module with coreFeatures. wazero's
// interpreter validates as its compiler does (the same decoder and
// validator) and compiles several times faster.
func validate(ctx context.Context, wasm []byte) (err error) {
	// wazero 1.12's validator panics on some invalid modules (a function
	// whose type index is out of range, called by another): a refusal,
	// not a crash of the host. Nothing is left half done: the runtime is
	// this call's own.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wazero's validator failed on it: %v", r)
		}
	}()
	cfg := wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(coreFeatures).WithDebugInfoEnabled(false)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer rt.Close(ctx)
	_, err = rt.CompileModule(ctx, wasm)
	return err
}

// writeCache writes b to path in dir, atomically. Best effort: a cache
// that cannot be written costs only time.
func writeCache(dir, path string, b []byte) {
	if os.MkdirAll(dir, 0o755) != nil {
		return
	}
	f, err := os.CreateTemp(dir, ".metered-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil && cerr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
	}
}
