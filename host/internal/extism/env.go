package extism

import (
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

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
