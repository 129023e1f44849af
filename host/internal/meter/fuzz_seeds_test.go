package meter_test

import . "taskhost.dev/internal/wasmtest"

// fuzzSeeds are FuzzInstrument's generated seeds: the spinners of every
// loop and call shape, issue 14's escape, and small modules that compute
// something (so that the comparison of results means something) with
// loops, br_table, calls, call_indirect, recursion, globals, multi-value
// blocks and loops, SIMD, bulk memory, reference types and traps. The
// arguments the fuzz target passes are 10, 11, ...
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, s := range Spinners() {
		seeds = append(seeds, s.Wasm)
	}
	seeds = append(seeds, FuelRefill(), loopModule(false), loopModule(true))
	i32i32 := FuncType([]byte{I32}, []byte{I32})
	i64i64 := FuncType([]byte{I64}, []byte{I64})
	toI32 := FuncType(nil, []byte{I32})
	memory := [][]byte{{0x00, 0x01}} // one page
	modules := []*Module{
		{ // fib(n), recursive
			Types: [][]byte{i32i32}, Funcs: []uint32{0}, Exports: [][]byte{Export("fib", 0, 0)},
			Codes: [][]byte{Code(NoLocals,
				0x20, 0, 0x41, 2, 0x49, 0x04, 0x7F, // if n < 2 (result i32)
				0x20, 0, // n
				0x05, // else fib(n-1) + fib(n-2)
				0x20, 0, 0x41, 1, 0x6B, 0x10, 0, 0x20, 0, 0x41, 2, 0x6B, 0x10, 0, 0x6A,
				0x0B, 0x0B)},
		},
		{ // sum(n): a loop storing n at 4n and, by n mod 3 through br_table, changing acc
			Types: [][]byte{i32i32}, Funcs: []uint32{0}, Memories: memory,
			Exports: [][]byte{Export("sum", 0, 0), Export("mem", 2, 0)},
			Codes: [][]byte{Code([]byte{1, 1, I32},
				0x02, 0x40, 0x03, 0x40, // block, loop
				0x20, 0, 0x45, 0x0D, 1, // n == 0: out
				0x20, 0, 0x41, 4, 0x6C, 0x20, 0, 0x36, 0x02, 0x00, // mem[4n] = n
				0x02, 0x40, 0x02, 0x40, 0x02, 0x40,
				0x20, 0, 0x41, 3, 0x70, 0x0E, 2, 0, 1, 2, // br_table by n mod 3
				0x0B, 0x20, 1, 0x41, 1, 0x6A, 0x21, 1, // case 0: acc += 1
				0x0B, 0x20, 1, 0x41, 3, 0x6C, 0x21, 1, // cases 0, 1: acc *= 3
				0x0B, 0x20, 0, 0x41, 1, 0x6B, 0x21, 0, // n--
				0x0C, 0, 0x0B, 0x0B,
				0x20, 1, 0x0B)},
		},
		{ // run(n): n times, acc = double(acc) or inc(acc) through a table, by n's parity
			Types: [][]byte{i32i32, i64i64}, Funcs: []uint32{0, 1, 1},
			Tables:  [][]byte{{0x70, 0x00, 2}},
			Globals: [][]byte{{I64, 0x01, 0x42, 1, 0x0B}},
			Exports: [][]byte{Export("run", 0, 0), Export("acc", 3, 0)},
			Elems:   [][]byte{{0x00, 0x41, 0, 0x0B, 2, 1, 2}},
			Codes: [][]byte{
				Code(NoLocals,
					0x02, 0x40, 0x03, 0x40,
					0x20, 0, 0x45, 0x0D, 1,
					0x23, 0, // acc
					0x41, 0, 0x41, 1, 0x20, 0, 0x41, 1, 0x71, 0x1B, // n odd ? 0 : 1
					0x11, 1, 0, 0x24, 0, // acc = table[...](acc)
					0x20, 0, 0x41, 1, 0x6B, 0x21, 0,
					0x0C, 0, 0x0B, 0x0B,
					0x23, 0, 0xA7, 0x0B), // i32.wrap_i64(acc)
				Code(NoLocals, 0x20, 0, 0x42, 2, 0x7E, 0x0B), // double
				Code(NoLocals, 0x20, 0, 0x42, 1, 0x7C, 0x0B), // inc
			},
		},
		{ // multi-value: a block and a loop typed by index
			Types: [][]byte{i32i32, FuncType([]byte{I32}, []byte{I32, I32})}, Funcs: []uint32{0, 0},
			Exports: [][]byte{Export("mv", 0, 0), Export("mvloop", 0, 1)},
			Codes: [][]byte{
				Code(NoLocals, 0x20, 0, 0x02, 1, 0x41, 3, 0x0B, 0x6C, 0x0B), // n * 3 through a block [i32] -> [i32 i32]
				Code(NoLocals, 0x20, 0, 0x03, 0, // loop [i32] -> [i32]: count n down
					0x41, 1, 0x6B, 0x22, 0, 0x20, 0, 0x0D, 0, 0x0B,
					0x41, 7, 0x6A, 0x0B),
			},
		},
		{ // SIMD: (1,2,3,4) + (10,20,30,40), lane 2
			Types: [][]byte{toI32}, Funcs: []uint32{0}, Exports: [][]byte{Export("simd", 0, 0)},
			Codes: [][]byte{Code(NoLocals, Cat(
				[]byte{0xFD, 0x0C}, v128(1, 2, 3, 4), []byte{0xFD, 0x0C}, v128(10, 20, 30, 40),
				[]byte{0xFD, 0xAE, 0x01, 0xFD, 0x1B, 2, 0x0B})...)},
		},
		{ // bulk memory: fill 100 bytes with n, copy 50 of them to 200, read 220
			Types: [][]byte{i32i32}, Funcs: []uint32{0}, Memories: memory, Exports: [][]byte{Export("bulk", 0, 0)},
			Codes: [][]byte{Code(NoLocals,
				0x41, 0, 0x20, 0, 0x41, 0xE4, 0x00, 0xFC, 11, 0, // i32.const 100 is two bytes signed
				0x41, 0xC8, 0x01, 0x41, 0, 0x41, 50, 0xFC, 10, 0, 0,
				0x41, 0xDC, 0x01, 0x2D, 0, 0, 0x0B)},
		},
		{ // reference types: table.set, table.get, ref.is_null, table.size
			Types: [][]byte{toI32}, Funcs: []uint32{0}, Tables: [][]byte{{0x70, 0x00, 2}},
			Exports: [][]byte{Export("refs", 0, 0)},
			Elems:   [][]byte{{0x03, 0x00, 1, 0}}, // declares function 0 for ref.func
			Codes: [][]byte{Code(NoLocals,
				0x41, 1, 0xD2, 0, 0x26, 0, 0x41, 1, 0x25, 0, 0xD1, 0xFC, 16, 0, 0x6A, 0x0B)},
		},
		{ // traps: a division by zero, an access out of bounds, a stack overflow
			Types: [][]byte{i32i32}, Funcs: []uint32{0, 0, 0}, Memories: memory,
			Exports: [][]byte{Export("div", 0, 0), Export("oob", 0, 1), Export("deep", 0, 2)},
			Codes: [][]byte{
				Code(NoLocals, 0x41, 1, 0x20, 0, 0x41, 10, 0x6B, 0x6D, 0x0B),
				Code(NoLocals, 0x41, 0xF0, 0xA2, 0x04, 0x28, 2, 0, 0x0B), // load at 70000
				Code(NoLocals, 0x20, 0, 0x41, 1, 0x6A, 0x10, 2, 0x0B),
			},
		},
	}
	for _, m := range modules {
		seeds = append(seeds, m.Bytes())
	}
	return seeds
}

// v128 encodes four i32 lanes.
func v128(lanes ...uint32) []byte {
	var b []byte
	for _, l := range lanes {
		b = append(b, byte(l), byte(l>>8), byte(l>>16), byte(l>>24))
	}
	return b
}
