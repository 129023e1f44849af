package meter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"taskhost.dev/host/internal/meter"
)

// The fuzz target's limits: each module gets 1 MiB of memory; a call of
// the original that runs past refDeadline is stopped (by wazero's own
// checks), and one of the rewrite past meteredDeadline (by its yield).
// The rewrite runs faster than the original under wazero's checks, so a
// call the original finishes the rewrite must finish too; one that has
// not yielded within backstop after its deadline has a loop without a
// check.
const (
	fuzzFuel        = 64
	fuzzMemoryPages = 16
	refDeadline     = 10 * time.Millisecond
	meteredDeadline = 4 * refDeadline
	backstop        = time.Second
)

var (
	errFuzzStopped = errors.New("stopped by the yield at its deadline")
	errRefStopped  = errors.New("stopped at a function entry at its deadline")
)

// stopAtEntry stops the original at a function's entry once its call's
// deadline has passed: wazero's own checks run only at loop heads, and a
// recursion without a loop would otherwise never end.
var stopAtEntry = experimental.FunctionListenerFactoryFunc(func(api.FunctionDefinition) experimental.FunctionListener {
	return experimental.FunctionListenerFunc(func(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
		if ctx.Err() != nil {
			panic(errRefStopped)
		}
	})
})

// FuzzInstrument is a differential test of the rewriter. For a module,
// generated (the seeds) or mutated:
//   - if wazero refuses the original, the rewriter refuses it or wazero
//     refuses its rewrite: a rewrite never makes an invalid module valid;
//   - if wazero accepts it, the rewriter must rewrite it, and wazero must
//     accept the rewrite;
//   - both are instantiated and every exported function whose parameters
//     and results are numbers is called, in order, with the same
//     arguments: the original under wazero's own checks (and a check at
//     each function entry), the rewrite under the meter alone. They must return the same results or trap alike,
//     leave the same exported memory, and the rewrite must be stopped by
//     its yield when it runs long (it yields in every loop).
//
// Run with: go test ./host/internal/meter -run '^$' -fuzz '^FuzzInstrument$' -fuzztime 3m
func FuzzInstrument(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, wasm []byte) {
		cfg := wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2).WithMemoryLimitPages(fuzzMemoryPages)
		ref := wazero.NewRuntimeWithConfig(ctx, cfg.WithCloseOnContextDone(true))
		defer ref.Close(ctx)
		orig, verr := compileOriginal(ctx, ref, wasm)
		out, merr := meter.Instrument(wasm, fuzzFuel)
		if verr != nil {
			if merr == nil {
				if _, err := ref.CompileModule(ctx, out); err == nil {
					t.Fatalf("wazero refuses the original (%v) and accepts its rewrite", verr)
				}
			}
			return
		}
		if merr != nil {
			t.Fatalf("the rewriter refuses a valid module: %v", merr)
		}
		// The rewrite also runs under wazero's checks, as a backstop only:
		// its deadline is far past the yield's.
		met := wazero.NewRuntimeWithConfig(ctx, cfg.WithCloseOnContextDone(true))
		defer met.Close(ctx)
		var deadline time.Time
		_, err := met.NewHostModuleBuilder(meter.ImportModule).NewFunctionBuilder().
			WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
				if time.Now().After(deadline) {
					panic(errFuzzStopped)
				}
				stack[0] = fuzzFuel
			}), nil, []api.ValueType{api.ValueTypeI32}).Export(meter.ImportName).Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rewritten, err := met.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero refuses the rewrite of a valid module: %v", err)
		}
		a, b := &side{rt: ref, compiled: orig}, &side{rt: met, compiled: rewritten, deadline: &deadline}
		ao, bo := a.instantiate(ctx), b.instantiate(ctx)
		if !compare(t, "instantiation", ao, bo) || a.mod == nil {
			return
		}
		for _, name := range numericExports(orig) {
			fa, fb := a.mod.ExportedFunction(name), b.mod.ExportedFunction(name)
			args := make([]uint64, len(fa.Definition().ParamTypes()))
			for i := range args {
				args[i] = uint64(10 + i)
			}
			ao, bo := a.call(ctx, fa, args), b.call(ctx, fb, args)
			if !compare(t, "call of "+name, ao, bo) {
				return
			}
		}
		for name := range orig.ExportedMemories() {
			ma, mb := a.mod.ExportedMemory(name), b.mod.ExportedMemory(name)
			ba, _ := ma.Read(0, ma.Size())
			bb, _ := mb.Read(0, mb.Size())
			if !bytes.Equal(ba, bb) {
				t.Fatalf("exported memory %q differs after the calls", name)
			}
		}
	})
}

// compileOriginal compiles the original module, with stopAtEntry; a
// panic of wazero's validator (which 1.12 has on some invalid modules, as
// the host's validation knows) counts as a refusal.
func compileOriginal(ctx context.Context, rt wazero.Runtime, wasm []byte) (c wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wazero's validator panicked: %v", r)
		}
	}()
	return rt.CompileModule(experimental.WithFunctionListenerFactory(ctx, stopAtEntry), wasm)
}

// side is one of the two modules under comparison: the original (no
// deadline pointer: wazero stops it) or the rewrite.
type side struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	mod      api.Module
	deadline *time.Time // the yield's, for the rewrite
}

// outcome is how a call or an instantiation ended.
type outcome struct {
	results []uint64
	types   []api.ValueType
	trap    string        // the error's first line; "" when none
	stopped bool          // at its deadline
	took    time.Duration // from start to end
}

func (s *side) run(ctx context.Context, f func(ctx context.Context) ([]uint64, error)) outcome {
	limit := refDeadline
	if s.deadline != nil {
		*s.deadline = time.Now().Add(meteredDeadline)
		limit = meteredDeadline + backstop
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	res, err := f(ctx)
	o := outcome{results: res, took: time.Since(start)}
	var exit *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		if s.deadline != nil {
			o.trap = "ran past its deadline without yielding"
		} else {
			o.stopped = true
		}
	case errors.Is(err, errFuzzStopped), errors.Is(err, errRefStopped):
		o.stopped = true
	default:
		o.trap, _, _ = strings.Cut(err.Error(), "\n")
	}
	return o
}

func (s *side) instantiate(ctx context.Context) outcome {
	return s.run(ctx, func(ctx context.Context) ([]uint64, error) {
		mod, err := s.rt.InstantiateModule(ctx, s.compiled, wazero.NewModuleConfig().WithName(""))
		s.mod = mod
		return nil, err
	})
}

func (s *side) call(ctx context.Context, fn api.Function, args []uint64) outcome {
	o := s.run(ctx, func(ctx context.Context) ([]uint64, error) { return fn.Call(ctx, args...) })
	o.types = fn.Definition().ResultTypes()
	return o
}

// compare fails t where the original's outcome a and the rewrite's b
// differ, and reports whether the comparison may go on (both finished).
func compare(t *testing.T, what string, a, b outcome) bool {
	t.Helper()
	if b.trap == "ran past its deadline without yielding" {
		t.Fatalf("%s: the rewrite %s", what, b.trap)
	}
	switch {
	case a.stopped:
		// The original ran past its deadline: the rewrite may have
		// finished (it is faster) or been stopped by its yield. Their
		// states may now differ.
		return false
	case b.stopped:
		t.Fatalf("%s: the original ended (%s) in %s, the rewrite ran past %s", what, a.describe(), a.took, meteredDeadline)
	case a.trap != b.trap:
		t.Fatalf("%s: the original %s, the rewrite %s", what, a.describe(), b.describe())
	case !sameResults(a, b):
		t.Fatalf("%s: the original %s, the rewrite %s", what, a.describe(), b.describe())
	}
	return a.trap == ""
}

func (o outcome) describe() string {
	if o.trap != "" {
		return "trapped: " + o.trap
	}
	return fmt.Sprintf("returned %v", o.results)
}

// sameResults compares results bit for bit, a NaN with any NaN.
func sameResults(a, b outcome) bool {
	if len(a.results) != len(b.results) {
		return false
	}
	for i, x := range a.results {
		y := b.results[i]
		switch a.types[i] {
		case api.ValueTypeF32:
			if math.IsNaN(float64(api.DecodeF32(x))) && math.IsNaN(float64(api.DecodeF32(y))) {
				continue
			}
		case api.ValueTypeF64:
			if math.IsNaN(api.DecodeF64(x)) && math.IsNaN(api.DecodeF64(y)) {
				continue
			}
		}
		if x != y {
			return false
		}
	}
	return true
}

// numericExports returns, sorted, the exported functions whose parameters
// and results are all numbers (i32, i64, f32, f64).
func numericExports(m wazero.CompiledModule) []string {
	numeric := func(ts []api.ValueType) bool {
		for _, t := range ts {
			switch t {
			case api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64:
			default:
				return false
			}
		}
		return true
	}
	var names []string
	for name, def := range m.ExportedFunctions() {
		if numeric(def.ParamTypes()) && numeric(def.ResultTypes()) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
