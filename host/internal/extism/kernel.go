package extism

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
)

// The kernel is the part of the Extism ABI that manages Extism memory:
// alloc, free, length, loads and stores, input, output and error. Plugins
// call these tens of times per task (a PDK copies input and output eight
// bytes per call), so they run as WebAssembly, not as Go host functions:
// a call from guest to kernel is a direct call between compiled modules,
// while a call into Go costs about 100 ns in wazero.
//
// Every plugin instance gets its own kernel instance (anonymous, bound with
// wazero's import resolver) holding its own memory. The kernel re-exports
// the Go host functions (config, vars, HTTP, log) under their Extism names,
// so that one module provides all of "extism:host/env".

// Internal host modules the kernel imports from.
const (
	kernelGoModule = "taskhost:kernel" // oom, output_too_large
	extismGoModule = "taskhost:extism" // the Go host functions
)

// Kernel globals, exported as g0..g6.
const (
	gHeap   = iota // end of the last block
	gInOff         // input block
	gInLen         //
	gOutOff        // output set by output_set
	gOutLen        //
	gErr           // error block set by error_set
	gPin           // free never releases blocks below this offset
	numGlobals
)

// firstBlock is the offset of the first block's data: offsets below it are
// never valid, so that 0 means "no block" as the Extism ABI requires.
const (
	headerSize = 8
	firstBlock = 2 * headerSize
)

type kfunc struct {
	name            string
	params, results []byte
	locals          []byte
	body            asm
}

// kernelModule returns the kernel's binary for a plugin whose Extism memory
// may grow to maxBytes and whose output may be maxOutput bytes.
func kernelModule(maxBytes, maxOutput int64) []byte {
	var imports []kfunc
	imports = append(imports,
		kfunc{name: "oom", params: []byte{tI64}},
		kfunc{name: "output_too_large", params: []byte{tI64}})
	nKernelGo := len(imports)
	for _, f := range goFuncs() {
		imports = append(imports, kfunc{name: f.name, params: valTypes(f.params), results: valTypes(f.results)})
	}
	const (
		fOOM    = 0
		fTooBig = 1
	)
	base := uint32(len(imports))
	fLength := base + 2 // index of "length" below

	trap := func(a asm, fn uint32, arg uint32) asm {
		return a.local(opLocalGet, arg).call(fn).op(opUnreachable)
	}
	ifRet0 := func(a asm) asm { return a.op(opIf, opBlockVoid).i64(0).op(opReturn, opEnd) }
	memBytes := asm{}.op(opMemorySize, 0, opI64ExtendU).i64(16).op(opI64Shl)

	var a asm
	alloc := a.
		local(opLocalGet, 0).op(opI64Eqz).op(opIf, opBlockVoid).i64(0).op(opReturn, opEnd).
		local(opLocalGet, 0).i64(maxBytes).op(opI64GtU).op(opIf, opBlockVoid)
	alloc = trap(alloc, fOOM, 0).op(opEnd).
		global(opGlobalGet, gHeap).local(opLocalSet, 1).
		local(opLocalGet, 0).i64(7).op(opI64Add).i64(-8).op(opI64And).i64(8).op(opI64Add).local(opLocalSet, 2).
		local(opLocalGet, 1).local(opLocalGet, 2).op(opI64Add).local(opLocalTee, 3).
		i64(maxBytes).op(opI64GtU).op(opIf, opBlockVoid)
	alloc = trap(alloc, fOOM, 0).op(opEnd).
		local(opLocalGet, 3).op(memBytes...).op(opI64GtU).op(opIf, opBlockVoid).
		local(opLocalGet, 3).op(memBytes...).op(opI64Sub).i64(65535).op(opI64Add).i64(16).op(opI64ShrU).op(opI32WrapI64).
		op(opMemoryGrow, 0).i32(-1).op(opI32Eq).op(opIf, opBlockVoid)
	alloc = trap(alloc, fOOM, 0).op(opEnd).op(opEnd).
		addr(1).local(opLocalGet, 0).mem(opI64Store, 3).
		local(opLocalGet, 1).i64(8).op(opI64Add, opI32WrapI64).i32(0).
		local(opLocalGet, 2).i64(8).op(opI64Sub, opI32WrapI64).op(opPrefixFC, opMemoryFill, 0).
		local(opLocalGet, 3).global(opGlobalSet, gHeap).
		local(opLocalGet, 1).i64(8).op(opI64Add)

	length := ifRet0(asm{}.local(opLocalGet, 0).i64(firstBlock).op(opI64LtU))
	length = ifRet0(length.local(opLocalGet, 0).global(opGlobalGet, gHeap).op(opI64GtU))
	length = ifRet0(length.local(opLocalGet, 0).i64(8).op(opI64Sub, opI32WrapI64).mem(opI64Load, 3).local(opLocalTee, 1).
		global(opGlobalGet, gHeap).local(opLocalGet, 0).op(opI64Sub).op(opI64GtU)).
		local(opLocalGet, 1)

	free := asm{}.local(opLocalGet, 0).call(fLength).local(opLocalTee, 1).op(opI64Eqz).op(opIf, opBlockVoid, opReturn, opEnd).
		local(opLocalGet, 0).global(opGlobalGet, gPin).op(opI64LtU).op(opIf, opBlockVoid, opReturn, opEnd).
		local(opLocalGet, 0).local(opLocalGet, 1).i64(7).op(opI64Add).i64(-8).op(opI64And).op(opI64Add).
		global(opGlobalGet, gHeap).op(opI64Eq).op(opIf, opBlockVoid).
		local(opLocalGet, 0).i64(8).op(opI64Sub).global(opGlobalSet, gHeap).op(opEnd)

	// pin(x) where x is in local l: raise gPin to x.
	pin := func(a asm, l uint32) asm {
		return a.local(opLocalGet, l).global(opGlobalGet, gPin).op(opI64GtU).op(opIf, opBlockVoid).
			local(opLocalGet, l).global(opGlobalSet, gPin).op(opEnd)
	}
	outputSet := asm{}.local(opLocalGet, 1).i64(maxOutput).op(opI64GtU).op(opIf, opBlockVoid)
	outputSet = trap(outputSet, fTooBig, 1).op(opEnd).
		local(opLocalGet, 0).global(opGlobalSet, gOutOff).
		local(opLocalGet, 1).global(opGlobalSet, gOutLen).
		local(opLocalGet, 0).local(opLocalGet, 1).op(opI64Add).local(opLocalSet, 2)
	outputSet = pin(outputSet, 2)
	errorSet := asm{}.local(opLocalGet, 0).global(opGlobalSet, gErr).
		local(opLocalGet, 0).local(opLocalGet, 0).call(fLength).op(opI64Add).local(opLocalSet, 1)
	errorSet = pin(errorSet, 1)
	reset := asm{}.i64(firstBlock).global(opGlobalSet, gHeap)
	for g := uint32(gInOff); g < numGlobals; g++ {
		reset = reset.i64(0).global(opGlobalSet, g)
	}

	l1 := []byte{tI64}
	defs := []kfunc{
		{"alloc", []byte{tI64}, []byte{tI64}, []byte{tI64, tI64, tI64}, alloc},
		{"free", []byte{tI64}, nil, l1, free},
		{"length", []byte{tI64}, []byte{tI64}, l1, length},
		{"load_u8", []byte{tI64}, []byte{tI32}, nil, asm{}.addr(0).mem(opI32Load8U, 0)},
		{"load_u64", []byte{tI64}, []byte{tI64}, nil, asm{}.addr(0).mem(opI64Load, 3)},
		{"store_u8", []byte{tI64, tI32}, nil, nil, asm{}.addr(0).local(opLocalGet, 1).mem(opI32Store8, 0)},
		{"store_u64", []byte{tI64, tI64}, nil, nil, asm{}.addr(0).local(opLocalGet, 1).mem(opI64Store, 3)},
		{"input_length", nil, []byte{tI64}, nil, asm{}.global(opGlobalGet, gInLen)},
		{"input_offset", nil, []byte{tI64}, nil, asm{}.global(opGlobalGet, gInOff)},
		{"input_load_u8", []byte{tI64}, []byte{tI32}, nil, asm{}.globalAddr(gInOff, 0).mem(opI32Load8U, 0)},
		{"input_load_u64", []byte{tI64}, []byte{tI64}, nil, asm{}.globalAddr(gInOff, 0).mem(opI64Load, 3)},
		{"input_set", []byte{tI64, tI64}, nil, nil, asm{}.local(opLocalGet, 0).global(opGlobalSet, gInOff).local(opLocalGet, 1).global(opGlobalSet, gInLen)},
		{"output_set", []byte{tI64, tI64}, nil, l1, outputSet},
		{"output_length", nil, []byte{tI64}, nil, asm{}.global(opGlobalGet, gOutLen)},
		{"output_offset", nil, []byte{tI64}, nil, asm{}.global(opGlobalGet, gOutOff)},
		{"error_set", []byte{tI64}, nil, l1, errorSet},
		{"error_get", nil, []byte{tI64}, nil, asm{}.global(opGlobalGet, gErr)},
		{"reset", nil, nil, nil, reset},
		{"memory_bytes", nil, []byte{tI64}, nil, memBytes},
	}

	// Types: one per distinct signature.
	var types [][]byte
	typeOf := func(params, results []byte) uint64 {
		t := append(append([]byte{0x60}, vec(bytesOf(params)...)...), vec(bytesOf(results)...)...)
		for i, u := range types {
			if string(u) == string(t) {
				return uint64(i)
			}
		}
		types = append(types, t)
		return uint64(len(types) - 1)
	}
	var importEntries, funcEntries, codeEntries, exports [][]byte
	for i, f := range imports {
		mod := extismGoModule
		if i < nKernelGo {
			mod = kernelGoModule
		} else {
			exports = append(exports, append(append(name(f.name), 0x00), uleb(uint64(i))...))
		}
		importEntries = append(importEntries, append(append(append(name(mod), name(f.name)...), 0x00), uleb(typeOf(f.params, f.results))...))
	}
	for i, f := range defs {
		funcEntries = append(funcEntries, uleb(typeOf(f.params, f.results)))
		var locals [][]byte
		for _, l := range f.locals {
			locals = append(locals, []byte{1, l})
		}
		body := append(vec(locals...), f.body...)
		body = append(body, opEnd)
		codeEntries = append(codeEntries, append(uleb(uint64(len(body))), body...))
		idx := uleb(uint64(base) + uint64(i))
		exports = append(exports, append(append(name(f.name), 0x00), idx...))
		if f.name == "length" {
			exports = append(exports, append(append(name("length_unsafe"), 0x00), idx...))
		}
	}
	maxPages := uint64((maxBytes + 65535) / 65536)
	exports = append(exports, append(name("memory"), 0x02, 0x00))
	var globals [][]byte
	for g := 0; g < numGlobals; g++ {
		init := int64(0)
		if g == gHeap {
			init = firstBlock
		}
		globals = append(globals, append(append([]byte{tI64, 0x01, opI64Const}, sleb(init)...), opEnd))
		exports = append(exports, append(append(name(fmt.Sprintf("g%d", g)), 0x03), uleb(uint64(g))...))
	}

	out := []byte{0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00}
	typeSec := vec(types...) // after all typeOf calls
	_ = typeSec
	out = append(out, section(1, vec(types...))...)
	out = append(out, section(2, vec(importEntries...))...)
	out = append(out, section(3, vec(funcEntries...))...)
	out = append(out, section(5, vec(append(append([]byte{0x01}, uleb(1)...), uleb(maxPages)...)))...)
	out = append(out, section(6, vec(globals...))...)
	out = append(out, section(7, vec(exports...))...)
	out = append(out, section(10, vec(codeEntries...))...)
	return out
}

func bytesOf(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func valTypes(ts []api.ValueType) []byte {
	out := make([]byte, len(ts))
	for i, t := range ts {
		out[i] = byte(t)
	}
	return out
}

// Kernel is a plugin's compiled kernel, ready to be instantiated once per
// plugin instance.
type Kernel struct {
	compiled wazero.CompiledModule
	limit    int64
}

// NewKernel builds the Go host modules the kernel imports (once per
// runtime) and compiles a kernel for the given limits.
func NewKernel(ctx context.Context, rt wazero.Runtime, maxBytes, maxOutput int64) (*Kernel, error) {
	kb := rt.NewHostModuleBuilder(kernelGoModule)
	kb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		s.fail(&Fault{Kind: abi.KindOOM, Msg: fmt.Sprintf("extism memory: allocating %d bytes would pass the limit of %d bytes", st[0], maxBytes)})
	}), []api.ValueType{i64}, nil).Export("oom")
	kb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		s.fail(&Fault{Kind: abi.KindSandbox, Msg: fmt.Sprintf("output of %d bytes exceeds max_output of %d bytes", st[0], maxOutput)})
	}), []api.ValueType{i64}, nil).Export("output_too_large")
	if _, err := kb.Instantiate(ctx); err != nil {
		return nil, err
	}
	gb := rt.NewHostModuleBuilder(extismGoModule)
	for _, f := range goFuncs() {
		gb.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).WithName(f.name).Export(f.name)
	}
	if _, err := gb.Instantiate(ctx); err != nil {
		return nil, err
	}
	compiled, err := rt.CompileModule(ctx, kernelModule(maxBytes, maxOutput))
	if err != nil {
		return nil, fmt.Errorf("compiling the Extism kernel: %w", err)
	}
	return &Kernel{compiled: compiled, limit: maxBytes}, nil
}

// Instantiate makes a kernel instance for one plugin instance and returns
// it with a view of its memory.
func (k *Kernel) Instantiate(ctx context.Context, rt wazero.Runtime) (api.Module, Memory, error) {
	mod, err := rt.InstantiateModule(ctx, k.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, Memory{}, err
	}
	m := Memory{mem: mod.Memory(), limit: k.limit}
	for g := range m.g {
		m.g[g] = mod.ExportedGlobal(fmt.Sprintf("g%d", g)).(api.MutableGlobal)
	}
	return mod, m, nil
}

func goFuncs() []hostFunc {
	var all []hostFunc
	all = append(all, configFuncs...)
	all = append(all, httpFuncs...)
	all = append(all, logFuncs...)
	return all
}
