package meter_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/host/internal/meter"
	"taskhost.dev/internal/testplugins"
	. "taskhost.dev/internal/wasmtest"
)

// loopModule exports run(n) = n + 1 computed through a loop of n
// iterations that calls inc through a table; with an import (when
// withImport) so that the defined functions' indices must shift, a start
// function, and a name section.
func loopModule(withImport bool) []byte {
	types := Section(1, []byte{0x60, 1, 0x7F, 1, 0x7F}, []byte{0x60, 0, 0})
	var imports []byte
	base := byte(0)
	if withImport {
		imports = Section(2, Cat(Name("env"), Name("nop"), []byte{0x00, 1}))
		base = 1
	}
	funcs := Section(3, []byte{0}, []byte{0}, []byte{1}) // run, inc, start
	table := Section(4, []byte{0x70, 0x00, 1})
	globals := Section(6, []byte{0x7F, 0x01, 0x41, 0x00, 0x0B}) // counter, set by start
	exports := Section(7, Cat(Name("run"), []byte{0x00, base}), Cat(Name("started"), []byte{0x03, 0}))
	start := Cat([]byte{8}, U(1), []byte{base + 2})
	elems := Section(9, []byte{0x00, 0x41, 0x00, 0x0B, 1, base + 1})
	// run(n): acc = 0; loop { if n == 0 break; acc = call_indirect inc(acc); n-- }; acc + 1
	run := Code([]byte{1, 1, 0x7F},
		0x02, 0x40, // block
		0x03, 0x40, // loop
		0x20, 0, 0x45, 0x0D, 1, // local.get n; i32.eqz; br_if 1
		0x20, 1, 0x41, 0, 0x11, 0, 0, 0x21, 1, // acc = call_indirect (type 0) table[0](acc)
		0x20, 0, 0x41, 1, 0x6B, 0x21, 0, // n--
		0x0C, 0, // br 0
		0x0B, 0x0B,
		0x20, 1, 0x41, 1, 0x6A, // acc + 1
		0x0B)
	inc := Code([]byte{0}, 0x20, 0, 0x41, 1, 0x6A, 0x0B)
	startFn := Code([]byte{0}, 0x41, 7, 0x24, 0, 0x0B)
	if withImport {
		startFn = Code([]byte{0}, 0x10, 0, 0x41, 7, 0x24, 0, 0x0B) // calls the import first
	}
	code := Section(10, run, inc, startFn)
	names := Custom("name", Cat([]byte{1}, func() []byte {
		b := Cat(U(3), U(uint64(base)), Name("run_impl"), U(uint64(base+1)), Name("inc"), U(uint64(base+2)), Name("init"))
		return Cat(U(uint64(len(b))), b)
	}()))
	debug := Custom(".debug_info", []byte{1, 2, 3})
	return Cat(Header, types, imports, funcs, table, globals, exports, start, elems, code, names, debug)
}

func TestInstrumentRuns(t *testing.T) {
	for _, withImport := range []bool{false, true} {
		ctx := context.Background()
		out, err := meter.Instrument(loopModule(withImport), 3)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), ".debug_info") {
			t.Error("the DWARF section was kept")
		}
		rt := wazero.NewRuntime(ctx)
		yields := 0
		_, err = rt.NewHostModuleBuilder(meter.ImportModule).NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
				yields++
				stack[0] = 3
			}), nil, []api.ValueType{api.ValueTypeI32}).Export(meter.ImportName).Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if withImport {
			rt.NewHostModuleBuilder("env").NewFunctionBuilder().WithFunc(func() {}).Export("nop").Instantiate(ctx)
		}
		mod, err := rt.Instantiate(ctx, out)
		if err != nil {
			t.Fatalf("import=%v: the rewritten module does not instantiate: %v", withImport, err)
		}
		if g := mod.ExportedGlobal("started").Get(); g != 7 {
			t.Errorf("import=%v: the start function set %d, want 7", withImport, g)
		}
		run := mod.ExportedFunction("run")
		if name := run.Definition().Name(); name != "run_impl" {
			t.Errorf("import=%v: run's name is %q, want run_impl", withImport, name)
		}
		yields = 0
		res, err := run.Call(ctx, 100)
		if err != nil || res[0] != 101 {
			t.Fatalf("import=%v: run(100) = %v, %v; want 101", withImport, res, err)
		}
		// 1 entry of run, 101 loop heads, 100 entries of inc: 202 checks,
		// a yield every 3 after the start function's leftover fuel.
		if yields < 66 || yields > 68 {
			t.Errorf("import=%v: %d yields for 202 checks at fuel 3, want 67 or so", withImport, yields)
		}
		rt.Close(ctx)
	}
}

func TestInstrumentRefuses(t *testing.T) {
	atomics := Cat(Header, Section(1, []byte{0x60, 0, 0}), Section(3, []byte{0}),
		Section(10, Code([]byte{0}, 0xFE, 0x03, 0x00, 0x0B)))
	for name, c := range map[string]struct {
		wasm []byte
		want string
	}{
		"not wasm":  {[]byte("hello"), "not a WebAssembly"},
		"truncated": {Cat(Header, []byte{1, 10, 0}), "unexpected end"},
		"atomics":   {atomics, "unsupported opcode 0xfe"},
	} {
		if _, err := meter.Instrument(c.wasm, 10); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}

// TestInstrumentRealModules rewrites real modules (the core plugins, the
// hostile test plugin, the C echo plugin, Extism's own test plugins) and
// has wazero compile each small one.
func TestInstrumentRealModules(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(testplugins.Core(t), "*.wasm"))
	extism, _ := filepath.Glob(filepath.Join(testplugins.ExtismWasmDir(t), "*.wasm"))
	paths = append(paths, extism...)
	paths = append(paths, testplugins.Build(t, "host/testdata/hostile"))
	if c, err := testplugins.BuildC("host/testdata/c_echo/echo.c"); err == nil {
		paths = append(paths, c)
	} else {
		t.Logf("no C plugin: %v", err)
	}
	ctx := context.Background()
	refused := 0
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := meter.Instrument(wasm, 10_000)
		if err != nil {
			// Some of Extism's test modules use proposals the rewriter
			// leaves alone; they run under wazero's checks.
			t.Logf("%s: %v", filepath.Base(p), err)
			refused++
			continue
		}
		if len(wasm) > 1<<20 {
			continue // the Go plugins: the host's tests compile and run them metered
		}
		rt := wazero.NewRuntime(ctx)
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Errorf("%s: the rewritten module does not compile: %v", filepath.Base(p), err)
		}
		rt.Close(ctx)
	}
	if refused > len(paths)/4 {
		t.Errorf("%d of %d modules refused", refused, len(paths))
	}
	t.Logf("%d modules rewritten, %d refused", len(paths)-refused, refused)
}
