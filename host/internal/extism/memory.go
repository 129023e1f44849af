package extism

import (
	"encoding/binary"
	"fmt"

	"taskhost.dev/abi"
)

// headerSize is the size of the length header in front of every block.
const headerSize = 8

// firstBlock is the offset of the first block's data: offsets below it are
// never valid, so that 0 means "no block" as the Extism ABI requires.
const firstBlock = 2 * headerSize

// Memory is the Extism memory of one plugin instance: a bump arena of
// length-prefixed blocks, emptied before every call. Offsets are positions in
// the arena; 0 is the null offset.
type Memory struct {
	buf   []byte
	limit int

	input, inputLen   uint64
	output, outputLen uint64
	errOff            uint64
	pin               uint64 // free never releases blocks below this offset
}

// NewMemory returns an empty arena that may grow to limit bytes.
func NewMemory(limit int) Memory {
	return Memory{buf: make([]byte, headerSize, 4096), limit: limit}
}

// Reset empties the arena and clears input, output and error.
func (m *Memory) Reset() {
	m.buf = m.buf[:headerSize]
	m.input, m.inputLen, m.output, m.outputLen, m.errOff, m.pin = 0, 0, 0, 0, 0, 0
}

// Alloc reserves n bytes and returns their offset, 0 for n == 0. It returns
// a Fault of kind abi.KindOOM when the arena would pass its limit.
func (m *Memory) Alloc(n uint64) (uint64, error) {
	if n == 0 {
		return 0, nil
	}
	start := uint64(len(m.buf))
	need := headerSize + (n+7)&^7
	if n > uint64(m.limit) || start+need > uint64(m.limit) {
		return 0, &Fault{Kind: abi.KindOOM, Msg: fmt.Sprintf("extism memory: allocating %d bytes would pass the limit of %d bytes", n, m.limit)}
	}
	end := start + need
	if end > uint64(cap(m.buf)) {
		grown := make([]byte, end, max(2*cap(m.buf), int(end)))
		copy(grown, m.buf)
		m.buf = grown
	} else {
		m.buf = m.buf[:end]
		clear(m.buf[start:end])
	}
	binary.LittleEndian.PutUint64(m.buf[start:], n)
	return start + headerSize, nil
}

// Write allocates a block holding b and returns its offset.
func (m *Memory) Write(b []byte) (uint64, error) {
	off, err := m.Alloc(uint64(len(b)))
	if err != nil || off == 0 {
		return off, err
	}
	copy(m.buf[off:], b)
	return off, nil
}

// Length returns the length of the block at off, or 0 when off is not the
// start of a block.
func (m *Memory) Length(off uint64) uint64 {
	if off < firstBlock || off > uint64(len(m.buf)) {
		return 0
	}
	n := binary.LittleEndian.Uint64(m.buf[off-headerSize:])
	if n > uint64(len(m.buf))-off {
		return 0
	}
	return n
}

// Bytes returns the block at off, aliased into the arena (valid until the
// next Alloc or Reset), or nil when off is not a block.
func (m *Memory) Bytes(off uint64) []byte {
	n := m.Length(off)
	if n == 0 {
		return nil
	}
	return m.buf[off : off+n]
}

// Free releases the block at off when it is the last one; other blocks are
// released by the next Reset.
func (m *Memory) Free(off uint64) {
	n := m.Length(off)
	if n == 0 || off < m.pin {
		return
	}
	if off+(n+7)&^7 == uint64(len(m.buf)) {
		m.buf = m.buf[:off-headerSize]
	}
}

func (m *Memory) inBounds(off, size uint64) bool {
	return off >= headerSize && off <= uint64(len(m.buf)) && size <= uint64(len(m.buf))-off
}

// SetInput copies in into a new block and makes it the call's input.
func (m *Memory) SetInput(in []byte) error {
	off, err := m.Write(in)
	if err != nil {
		return err
	}
	m.input, m.inputLen = off, uint64(len(in))
	return nil
}

// Output returns the block the plugin named as its output, aliased into the
// arena, and whether it named one.
func (m *Memory) Output() ([]byte, bool) {
	if m.output == 0 && m.outputLen == 0 {
		return nil, false
	}
	return m.buf[m.output : m.output+m.outputLen], true
}

// OutputLen returns the length of the output the plugin set.
func (m *Memory) OutputLen() uint64 { return m.outputLen }

// Error returns the error text the plugin set, aliased into the arena, or
// nil.
func (m *Memory) Error() []byte {
	if m.errOff == 0 {
		return nil
	}
	return m.Bytes(m.errOff)
}

// Size returns the arena's current size in bytes.
func (m *Memory) Size() int { return len(m.buf) }
