package wasmtest

// FuelRefill is the module of issue 14's escape: it declares no global,
// yet its spin sets global 0 to 1000 in a loop (and reads it back). The
// module is not valid on its own; a meter that appends its fuel counter
// as the module's first global, and copies the index unchecked, hands it
// the counter, which then never runs out.
func FuelRefill() []byte {
	m := spinModule(Cat([]byte{opLoop, void,
		opI32Const, 0xE8, 0x07, opGlobalSet, 0, // global 0 = 1000
		opGlobalGet, 0, opDrop,
		opBr, 0, opEnd}, ret0))
	return m.Bytes()
}

// TypeIndexPanic is a module that wazero 1.12's validator panics on
// instead of refusing it: function 1 has type 5 of the one type declared,
// and function 0 calls it, which the validator checks against the type it
// looks up unchecked.
func TypeIndexPanic() []byte {
	m := &Module{
		Types:   [][]byte{typeSpin},
		Funcs:   []uint32{0, 5},
		Exports: [][]byte{Export("spin", 0, 0)},
		Codes:   [][]byte{Code(NoLocals, opCall, 1, opI32Const, 0, opEnd), Code(NoLocals, opEnd)},
	}
	return m.Bytes()
}
