package extism

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// Instantiate builds the "extism:host/env" module in rt. Instances of
// modules that import it must be called with a context from NewContext.
func Instantiate(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ExtismModule)
	def := func(name string, fn api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(fn, params, results).WithName(name).Export(name)
	}
	for _, f := range memoryFuncs {
		def(f.name, f.fn, f.params, f.results)
	}
	for _, f := range configFuncs {
		def(f.name, f.fn, f.params, f.results)
	}
	for _, f := range httpFuncs {
		def(f.name, f.fn, f.params, f.results)
	}
	for _, f := range logFuncs {
		def(f.name, f.fn, f.params, f.results)
	}
	_, err := b.Instantiate(ctx)
	return err
}

type hostFunc struct {
	name            string
	params, results []api.ValueType
	fn              api.GoModuleFunc
}

func (s *State) trap(format string, args ...any) {
	s.fail(&Fault{Kind: abi.KindTrap, Msg: fmt.Sprintf(format, args...)})
}

func (s *State) alloc(n uint64) uint64 {
	off, err := s.Mem.Alloc(n)
	if err != nil {
		s.fail(err.(*Fault))
	}
	return off
}

// write stores b in a new block, faulting when memory runs out.
func (s *State) write(b []byte) uint64 {
	off, err := s.Mem.Write(b)
	if err != nil {
		s.fail(err.(*Fault))
	}
	return off
}

// read returns the block at off, aliased into the arena.
func (s *State) read(off uint64) []byte {
	if off == 0 {
		return nil
	}
	return s.Mem.Bytes(off)
}

var memoryFuncs = []hostFunc{
	{"alloc", []api.ValueType{i64}, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = stateOf(ctx).alloc(st[0])
	}},
	{"free", []api.ValueType{i64}, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		stateOf(ctx).Mem.Free(st[0])
	}},
	{"length", []api.ValueType{i64}, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = stateOf(ctx).Mem.Length(st[0])
	}},
	{"length_unsafe", []api.ValueType{i64}, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = stateOf(ctx).Mem.Length(st[0])
	}},
	{"load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if !s.Mem.inBounds(st[0], 1) {
			s.trap("extism memory: load_u8 at %d is out of bounds (size %d)", st[0], s.Mem.Size())
		}
		st[0] = uint64(s.Mem.buf[st[0]])
	}},
	{"load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if !s.Mem.inBounds(st[0], 8) {
			s.trap("extism memory: load_u64 at %d is out of bounds (size %d)", st[0], s.Mem.Size())
		}
		st[0] = binary.LittleEndian.Uint64(s.Mem.buf[st[0]:])
	}},
	{"store_u8", []api.ValueType{i64, i32}, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if !s.Mem.inBounds(st[0], 1) || st[0] < firstBlock {
			s.trap("extism memory: store_u8 at %d is out of bounds (size %d)", st[0], s.Mem.Size())
		}
		s.Mem.buf[st[0]] = byte(st[1])
	}},
	{"store_u64", []api.ValueType{i64, i64}, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if !s.Mem.inBounds(st[0], 8) || st[0] < firstBlock {
			s.trap("extism memory: store_u64 at %d is out of bounds (size %d)", st[0], s.Mem.Size())
		}
		binary.LittleEndian.PutUint64(s.Mem.buf[st[0]:], st[1])
	}},
	{"input_length", nil, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = stateOf(ctx).Mem.inputLen
	}},
	{"input_offset", nil, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = stateOf(ctx).Mem.input
	}},
	{"input_load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if st[0] >= s.Mem.inputLen {
			s.trap("extism input: input_load_u8 at %d is past the input's %d bytes", st[0], s.Mem.inputLen)
		}
		st[0] = uint64(s.Mem.buf[s.Mem.input+st[0]])
	}},
	{"input_load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if st[0] >= s.Mem.inputLen || !s.Mem.inBounds(s.Mem.input+st[0], 8) {
			s.trap("extism input: input_load_u64 at %d is past the input's %d bytes", st[0], s.Mem.inputLen)
		}
		st[0] = binary.LittleEndian.Uint64(s.Mem.buf[s.Mem.input+st[0]:])
	}},
	{"input_set", []api.ValueType{i64, i64}, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if !s.Mem.inBounds(st[0], st[1]) {
			s.trap("extism memory: input_set(%d, %d) is out of bounds", st[0], st[1])
		}
		s.Mem.input, s.Mem.inputLen = st[0], st[1]
	}},
	{"output_set", []api.ValueType{i64, i64}, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if !s.Mem.inBounds(st[0], st[1]) {
			s.trap("extism memory: output_set(%d, %d) is out of bounds", st[0], st[1])
		}
		if s.MaxOutput > 0 && st[1] > uint64(s.MaxOutput) {
			s.fail(&Fault{Kind: abi.KindSandbox, Msg: fmt.Sprintf("output of %d bytes exceeds max_output of %d bytes", st[1], s.MaxOutput)})
		}
		s.Mem.output, s.Mem.outputLen = st[0], st[1]
		s.Mem.pin = max(s.Mem.pin, st[0]+st[1])
	}},
	{"output_length", nil, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = stateOf(ctx).Mem.outputLen
	}},
	{"output_offset", nil, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = stateOf(ctx).Mem.output
	}},
	{"error_set", []api.ValueType{i64}, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		s.Mem.errOff = st[0]
		s.Mem.pin = max(s.Mem.pin, st[0]+s.Mem.Length(st[0]))
	}},
	{"error_get", nil, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = stateOf(ctx).Mem.errOff
	}},
	{"reset", nil, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		stateOf(ctx).Mem.Reset()
	}},
	{"memory_bytes", nil, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		st[0] = uint64(stateOf(ctx).Mem.Size())
	}},
}
