package extism

import (
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
)

// Memory is the host's view of a kernel instance's Extism memory: a bump
// arena of length-prefixed blocks, emptied before every call. Offsets are
// positions in the kernel's linear memory; 0 is the null offset. The Go
// side allocates exactly as the kernel's alloc does.
type Memory struct {
	mem   api.Memory
	g     [numGlobals]api.MutableGlobal
	limit int64
}

// Reset empties the arena and clears input, output and error.
func (m *Memory) Reset() {
	m.g[gHeap].Set(firstBlock)
	for g := gInOff; g < numGlobals; g++ {
		m.g[g].Set(0)
	}
}

// Alloc reserves n zeroed bytes and returns their offset, 0 for n == 0. It
// returns a Fault of kind abi.KindOOM when the arena would pass its limit.
func (m *Memory) Alloc(n uint64) (uint64, error) {
	if n == 0 {
		return 0, nil
	}
	start := m.g[gHeap].Get()
	need := headerSize + (n+7)&^7
	if n > uint64(m.limit) || start+need > uint64(m.limit) {
		return 0, &Fault{Kind: abi.KindOOM, Msg: fmt.Sprintf("extism memory: allocating %d bytes would pass the limit of %d bytes", n, m.limit)}
	}
	end := start + need
	if size := uint64(m.mem.Size()); end > size {
		if _, ok := m.mem.Grow(uint32((end - size + 65535) / 65536)); !ok {
			return 0, &Fault{Kind: abi.KindOOM, Msg: fmt.Sprintf("extism memory: cannot grow to %d bytes", end)}
		}
	}
	block, _ := m.mem.Read(uint32(start), uint32(need))
	clear(block)
	m.mem.WriteUint64Le(uint32(start), n)
	m.g[gHeap].Set(end)
	return start + headerSize, nil
}

// Write allocates a block holding b and returns its offset.
func (m *Memory) Write(b []byte) (uint64, error) {
	off, err := m.Alloc(uint64(len(b)))
	if err != nil || off == 0 {
		return off, err
	}
	m.mem.Write(uint32(off), b)
	return off, nil
}

// Length returns the length of the block at off, or 0 when off is not the
// start of a block.
func (m *Memory) Length(off uint64) uint64 {
	heap := m.g[gHeap].Get()
	if off < firstBlock || off > heap {
		return 0
	}
	n, ok := m.mem.ReadUint64Le(uint32(off - headerSize))
	if !ok || n > heap-off {
		return 0
	}
	return n
}

// Bytes returns the block at off, aliased into the kernel's memory (valid
// until the next Alloc or Reset), or nil when off is not a block.
func (m *Memory) Bytes(off uint64) []byte {
	n := m.Length(off)
	if n == 0 {
		return nil
	}
	b, _ := m.mem.Read(uint32(off), uint32(n))
	return b
}

// Free releases the block at off when it is the last one; other blocks are
// released by the next Reset.
func (m *Memory) Free(off uint64) {
	n := m.Length(off)
	if n == 0 || off < m.g[gPin].Get() {
		return
	}
	if off+(n+7)&^7 == m.g[gHeap].Get() {
		m.g[gHeap].Set(off - headerSize)
	}
}

// SetInput resets the arena and copies in into a new block that becomes the
// call's input.
func (m *Memory) SetInput(in []byte) error {
	m.Reset()
	off, err := m.Write(in)
	if err != nil {
		return err
	}
	m.g[gInOff].Set(off)
	m.g[gInLen].Set(uint64(len(in)))
	return nil
}

// Output returns the output the plugin set, aliased into the kernel's
// memory, and whether it set one.
func (m *Memory) Output() ([]byte, bool) {
	off, n := m.g[gOutOff].Get(), m.g[gOutLen].Get()
	if off == 0 && n == 0 {
		return nil, false
	}
	b, ok := m.mem.Read(uint32(off), uint32(n))
	return b, ok
}

// Error returns the error text the plugin set, aliased into the kernel's
// memory, or nil.
func (m *Memory) Error() []byte {
	off := m.g[gErr].Get()
	if off == 0 {
		return nil
	}
	return m.Bytes(off)
}

// Size returns the kernel memory's size in bytes.
func (m *Memory) Size() int { return int(m.mem.Size()) }
