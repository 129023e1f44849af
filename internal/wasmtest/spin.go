package wasmtest

// Spinner is a guest that never ends: its export spin, () -> i32, does
// not return (or, for the shape "start", instantiating it does not).
type Spinner struct {
	// Shape names the way it spins.
	Shape string
	// Feature is the WebAssembly proposal the module needs beyond 2.0 (as
	// wazero names it), "" for none.
	Feature string
	// Wasm is the module.
	Wasm []byte
}

// The types every spinner declares.
var (
	typeSpin = FuncType(nil, []byte{I32}) // 0: spin
	typeTree = FuncType([]byte{I32}, nil) // 1: tree(depth)
	typeLeaf = FuncType(nil, nil)         // 2: leaf
)

// Opcodes, for the bodies below.
const (
	opBlock        = 0x02
	opLoop         = 0x03
	opIf           = 0x04
	opEnd          = 0x0B
	opBr           = 0x0C
	opBrIf         = 0x0D
	opBrTable      = 0x0E
	opCall         = 0x10
	opCallIndirect = 0x11
	opReturnCall   = 0x12
	opReturnCallI  = 0x13
	opDrop         = 0x1A
	opLocalGet     = 0x20
	opGlobalGet    = 0x23
	opGlobalSet    = 0x24
	opI32Const     = 0x41
	opI32Sub       = 0x6B
	void           = 0x40 // the empty block type
)

// ret0 ends a body of type spin: i32.const 0, end.
var ret0 = []byte{opI32Const, 0, opEnd}

func spinModule(spin []byte, more ...[]byte) *Module {
	m := &Module{
		Types:   [][]byte{typeSpin, typeTree, typeLeaf},
		Funcs:   []uint32{0},
		Exports: [][]byte{Export("spin", 0, 0)},
		Codes:   [][]byte{Code(NoLocals, spin...)},
	}
	for _, c := range more {
		m.Codes = append(m.Codes, c)
	}
	return m
}

// tree is a body of type tree: if depth > 0, call f(depth-1) twice, each
// call made by call (callOp 0x10, fn the callee) or through table 0
// (callOp 0x11, fn the table slot). At depth 62 it makes 2^63 calls, never
// deeper than 62 frames and with no loop.
func tree(callOp byte, fn byte) []byte {
	call := []byte{opLocalGet, 0, opI32Const, 1, opI32Sub, opCall, fn}
	if callOp == opCallIndirect {
		call = []byte{opLocalGet, 0, opI32Const, 1, opI32Sub, opI32Const, fn, opCallIndirect, 1, 0}
	}
	return Code(NoLocals, Cat([]byte{opLocalGet, 0, opIf, void}, call, call, []byte{opEnd, opEnd})...)
}

// funcTable is a table of n funcref slots, with functions fns from slot 0.
func (m *Module) funcTable(fns ...byte) *Module {
	m.Tables = [][]byte{{0x70, 0x00, byte(len(fns))}}
	m.Elems = [][]byte{Cat([]byte{0x00, opI32Const, 0, opEnd, byte(len(fns))}, fns)}
	return m
}

// Spinners returns a guest for each loop and call shape: loop, br, br_if,
// br_table, nested loops, a branch out of a block or an if, a call in a
// loop, recursion by call and by call_indirect, mutual recursion, tail
// calls (return_call, return_call_indirect) and a start function.
func Spinners() []Spinner {
	l := func(body ...byte) []byte { return Cat([]byte{opLoop, void}, body, []byte{opEnd}, ret0) }
	shapes := []struct {
		shape, feature string
		m              *Module
	}{
		{"loop", "", spinModule(l(opBr, 0))},
		{"br_if", "", spinModule(l(opI32Const, 1, opBrIf, 0))},
		// br_table's first label (taken for 0) is the loop, around the block.
		{"br_table", "", spinModule(l(opBlock, void, opI32Const, 0, opBrTable, 1, 1, 0, opEnd))},
		{"nested_loops", "", spinModule(l(opLoop, void, opI32Const, 0, opBrIf, 0, opEnd, opBr, 0))},
		{"br_from_block", "", spinModule(l(opBlock, void, opBr, 1, opEnd))},
		{"br_from_if", "", spinModule(l(opI32Const, 1, opIf, void, opBr, 1, opEnd))},
		{"loop_after_code", "", spinModule(Cat([]byte{opI32Const, 0, opDrop}, l(opBr, 0)))},
		{"call_in_loop", "", func() *Module {
			m := spinModule(l(opCall, 1, opBr, 0), Code(NoLocals, opEnd))
			m.Funcs = append(m.Funcs, 2)
			return m
		}()},
		{"recursion", "", func() *Module {
			m := spinModule(Cat([]byte{opI32Const, 62, opCall, 1}, ret0), tree(opCall, 1))
			m.Funcs = append(m.Funcs, 1)
			return m
		}()},
		{"mutual_recursion", "", func() *Module {
			m := spinModule(Cat([]byte{opI32Const, 62, opCall, 1}, ret0), tree(opCall, 2), tree(opCall, 1))
			m.Funcs = append(m.Funcs, 1, 1)
			return m
		}()},
		{"call_indirect", "", func() *Module {
			m := spinModule(Cat([]byte{opI32Const, 62, opI32Const, 0, opCallIndirect, 1, 0}, ret0), tree(opCallIndirect, 0))
			m.Funcs = append(m.Funcs, 1)
			return m.funcTable(1)
		}()},
		{"return_call", "tail-call", spinModule([]byte{opReturnCall, 0, opEnd})},
		{"return_call_indirect", "tail-call", spinModule([]byte{opI32Const, 0, opReturnCallI, 0, 0, opEnd}).funcTable(0)},
		{"start", "", func() *Module {
			m := spinModule(ret0, Code(NoLocals, opLoop, void, opBr, 0, opEnd, opEnd))
			m.Funcs = append(m.Funcs, 2)
			m.Start = U(1)
			return m
		}()},
	}
	out := make([]Spinner, len(shapes))
	for i, s := range shapes {
		out[i] = Spinner{Shape: s.shape, Feature: s.feature, Wasm: s.m.Bytes()}
	}
	return out
}
