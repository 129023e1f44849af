package meter_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"taskhost.dev/host/internal/meter"
	. "taskhost.dev/internal/wasmtest"
)

var (
	typeSpin = FuncType(nil, []byte{I32}) // () -> i32, the type the meter appends
	table1   = []byte{0x70, 0x00, 1}      // a funcref table of one slot
	i32Const = []byte{0x7F, 0x00, 0x41, 0x00, 0x0B}
)

// spin is a module of one function, spin () -> i32, with body code.
func spin(code ...byte) *Module {
	return &Module{
		Types:   [][]byte{typeSpin},
		Funcs:   []uint32{0},
		Exports: [][]byte{Export("spin", 0, 0)},
		Codes:   [][]byte{Code(NoLocals, code...)},
	}
}

// with applies f to m and returns m.
func with(m *Module, f func(m *Module)) *Module { f(m); return m }

// TestInstrumentRefusesHostileIndices: a module that uses an index it does
// not declare is refused by the rewriter itself, not only by validation,
// so that no such index reaches what the rewrite adds (the fuel global,
// the yield type and import). Each module here is invalid (wazero refuses
// it); before the rewriter checked indices, it rewrote most of them into
// valid modules, the first one into issue 14's escape.
func TestInstrumentRefusesHostileIndices(t *testing.T) {
	ret := []byte{0x41, 0, 0x0B}
	cases := []struct {
		name string
		wasm []byte
		want string
	}{
		{"global.set of an undeclared global (issue 14)", FuelRefill(), "global index 0 out of range (the module has 0)"},
		{"global.get past the last global", with(spin(0x23, 1, 0x0B), func(m *Module) { m.Globals = [][]byte{i32Const} }).Bytes(),
			"global index 1 out of range (the module has 1)"},
		{"global.get past an imported global", with(spin(0x23, 1, 0x0B), func(m *Module) {
			m.Imports = [][]byte{Cat(Name("env"), Name("g"), []byte{0x03, 0x7F, 0x00})}
		}).Bytes(), "global index 1 out of range (the module has 1)"},
		{"export of an undeclared global", with(spin(ret...), func(m *Module) { m.Exports = append(m.Exports, Export("fuel", 3, 0)) }).Bytes(),
			"export section: global index 0"},
		{"global initialiser reading an undeclared global", with(spin(ret...), func(m *Module) {
			m.Globals = [][]byte{{0x7F, 0x00, 0x23, 0x01, 0x0B}}
		}).Bytes(), "global section: global index 1"},
		{"data offset reading an undeclared global", with(spin(ret...), func(m *Module) {
			m.Memories = [][]byte{{0x00, 0x01}}
			m.Datas = [][]byte{{0x00, 0x23, 0x00, 0x0B, 0x00}}
		}).Bytes(), "data section: global index 0"},
		{"call_indirect of the type past the last", with(spin(0x41, 0, 0x11, 1, 0, 0x0B), func(m *Module) { m.Tables = [][]byte{table1} }).Bytes(),
			"type index 1 out of range (the module has 1)"},
		{"block of the type past the last", spin(0x02, 1, 0x41, 0, 0x0B, 0x0B).Bytes(), "type index 1 out of range"},
		{"loop of the type past the last", spin(0x03, 1, 0x41, 0, 0x0B, 0x0B).Bytes(), "type index 1 out of range"},
		{"function of an undeclared type", with(spin(ret...), func(m *Module) { m.Funcs = []uint32{1} }).Bytes(),
			"function section: function 0: type index 1"},
		{"function import of an undeclared type", with(spin(ret...), func(m *Module) {
			m.Imports = [][]byte{Cat(Name("env"), Name("f"), []byte{0x00, 0x01})}
		}).Bytes(), "import section: function import 0: type index 1"},
		{"call of an undeclared function", spin(0x10, 1, 0x0B).Bytes(), "function index 1 out of range (the module has 1)"},
		{"ref.func of an undeclared function", with(spin(ret...), func(m *Module) { m.Globals = [][]byte{{0x70, 0x00, 0xD2, 0x05, 0x0B}} }).Bytes(),
			"function index 5"},
		{"element of an undeclared function", with(spin(ret...), func(m *Module) {
			m.Tables = [][]byte{table1}
			m.Elems = [][]byte{{0x00, 0x41, 0x00, 0x0B, 0x01, 0x07}}
		}).Bytes(), "element section: function index 7"},
		{"start function undeclared", with(spin(ret...), func(m *Module) { m.Start = U(3) }).Bytes(), "start section: function index 3"},
		{"export of an undeclared function", with(spin(ret...), func(m *Module) { m.Exports = [][]byte{Export("f", 0, 2)} }).Bytes(),
			"export section: function index 2"},
		{"call_indirect through an undeclared table", spin(0x41, 0, 0x11, 0, 0, 0x0B).Bytes(), "table index 0 out of range (the module has 0)"},
		{"table.size of an undeclared table", spin(0xFC, 16, 0, 0x0B).Bytes(), "table index 0 out of range"},
		// call 1 with the index in five bytes that hold 2^32+1: read as 32 bits
		// it would be 1, a valid call, once renumbered.
		{"function index with bits past 32", with(spin(0x10, 0x81, 0x80, 0x80, 0x80, 0x10, 0x0B), func(m *Module) {
			m.Funcs = append(m.Funcs, 0)
			m.Codes = append(m.Codes, Code(NoLocals, ret...))
		}).Bytes(), "LEB128 integer too long or too large"},
		{"block type that is neither a value type nor an index", spin(0x02, 0x41, 0x0B, 0x41, 0, 0x0B).Bytes(), "invalid block type"},
		{"repeated global section", Cat(Header, Section(1, typeSpin), Section(3, U(0)), Section(6, i32Const), Section(6, i32Const),
			Section(10, Code(NoLocals, ret...))), "section 6 is out of order or repeated"},
		{"sections out of order", Cat(Header, Section(1, typeSpin), Section(6, i32Const), Section(3, U(0)),
			Section(10, Code(NoLocals, ret...))), "section 3 is out of order or repeated"},
		{"more bodies than functions", with(spin(ret...), func(m *Module) { m.Codes = append(m.Codes, m.Codes[0]) }).Bytes(),
			"2 bodies for the 1 functions"},
		{"functions without bodies", Cat(Header, Section(1, typeSpin), Section(3, U(0))), "1 functions declared and no code section"},
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := rt.CompileModule(ctx, c.wasm); err == nil {
				t.Fatal("wazero accepts the module: the case is not hostile")
			}
			out, err := meter.Instrument(c.wasm, 100)
			if err == nil {
				_, cerr := rt.CompileModule(ctx, out)
				t.Fatalf("the rewriter accepted it (wazero on the rewritten module: %v)", cerr)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one containing %q", err, c.want)
			}
		})
	}
}

var errYielded = errors.New("stopped at a yield")

// TestInstrumentStopsEveryShape: every guest that never ends, whatever the
// shape of its loop or calls, calls yield once its fuel runs out, where
// the host stops it. Deterministic: the yield stops the guest the third
// time it is called.
func TestInstrumentStopsEveryShape(t *testing.T) {
	ctx := context.Background()
	for _, s := range Spinners() {
		t.Run(s.Shape, func(t *testing.T) {
			features := api.CoreFeaturesV2
			if s.Feature == "tail-call" {
				features |= experimental.CoreFeaturesTailCall
			}
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(features))
			defer rt.Close(ctx)
			if _, err := rt.CompileModule(ctx, s.Wasm); err != nil {
				t.Fatalf("the original does not compile: %v", err)
			}
			out, err := meter.Instrument(s.Wasm, 100)
			if err != nil {
				t.Fatal(err)
			}
			yields := 0
			_, err = rt.NewHostModuleBuilder(meter.ImportModule).NewFunctionBuilder().
				WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
					if yields++; yields == 3 {
						panic(errYielded)
					}
					stack[0] = 100
				}), nil, []api.ValueType{api.ValueTypeI32}).Export(meter.ImportName).Instantiate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mod, err := rt.Instantiate(ctx, out)
			if err == nil {
				_, err = mod.ExportedFunction("spin").Call(ctx)
			}
			if !errors.Is(err, errYielded) {
				t.Fatalf("got %v after %d yields, want the guest stopped at its third yield", err, yields)
			}
		})
	}
}
