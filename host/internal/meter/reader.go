package meter

import (
	"errors"
	"fmt"

	"taskhost.dev/host/internal/leb"
)

var errShort = errors.New("unexpected end of data")

// reader reads the binary format; the first error sticks and later reads
// return zeros.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) eof() bool { return r.pos >= len(r.b) }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.pos {
		r.err = errShort
		return nil
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

// uleb reads an unsigned LEB128 of at most bits bits (32 or 64), refusing
// one that is longer than it needs to be or holds more bits: such an
// integer is not valid, and reading it truncated would change its value.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if rest := bits - shift; rest < 7 && c>>rest != 0 {
			r.fail("LEB128 integer too long or too large")
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 {
	if r.pos < len(r.b) && r.b[r.pos] < 0x80 && r.err == nil {
		r.pos++
		return uint32(r.b[r.pos-1])
	}
	return uint32(r.uleb(32))
}

// sleb skips a signed LEB128 of at most bits bits (32 or 64). It is
// copied as it is, so that only its length matters here.
func (r *reader) sleb(bits uint) {
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil || c&0x80 == 0 {
			return
		}
		if shift+7 >= bits {
			r.fail("LEB128 integer too long")
			return
		}
	}
}

// end fails unless every byte was read: a section or subsection whose
// entries end before it does is not valid, and a rewrite must not drop
// the rest.
func (r *reader) end() {
	if r.err == nil && !r.eof() {
		r.fail(fmt.Sprintf("%d bytes after the last entry", len(r.b)-r.pos))
	}
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

func (r *reader) limits() {
	flags := r.byte()
	r.uleb(64)
	if flags&0x01 != 0 {
		r.uleb(64)
	}
}

// blockType reads a block type and returns its type index when it is one
// (a non-negative signed 33-bit LEB128) rather than a value type.
func (r *reader) blockType() (uint32, bool) {
	if r.eof() {
		r.err = errShort
		return 0, false
	}
	switch r.b[r.pos] {
	case 0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
		r.pos++
		return 0, false
	}
	// A type index: the byte's sign bit (0x40 in its last byte) is clear,
	// so it reads as an unsigned integer of 32 bits.
	i := r.uleb(32)
	if r.err == nil && r.b[r.pos-1]&0x40 != 0 {
		r.fail("invalid block type")
	}
	return uint32(i), r.err == nil
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.uleb(64)
}

// prefixFC skips the immediates of a 0xFC-prefixed instruction, passing
// each table index to checkTable.
func (r *reader) prefixFC(checkTable func(uint32) error) error {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data memory
		r.u32()
		r.u32()
	case sub == 10: // memory.copy
		r.u32()
		r.u32()
	case sub == 9 || sub == 11 || sub == 13: // data.drop, memory.fill, elem.drop
		r.u32()
	case sub == 12: // table.init elem table
		r.u32()
		return checkTable(r.u32())
	case sub == 14: // table.copy dst src
		if err := checkTable(r.u32()); err != nil {
			return err
		}
		return checkTable(r.u32())
	case sub == 15 || sub == 16 || sub == 17: // table.grow, table.size, table.fill
		return checkTable(r.u32())
	default:
		return fmt.Errorf("unsupported instruction 0xFC %d", sub)
	}
	return nil
}

// prefixFD skips the immediates of a SIMD instruction.
func (r *reader) prefixFD() error {
	switch sub := r.u32(); {
	case sub <= 0x0B, sub == 0x5C, sub == 0x5D: // loads, stores
		r.memarg()
	case sub == 0x0C, sub == 0x0D: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 0x15 && sub <= 0x22: // extract and replace lane
		r.byte()
	case sub >= 0x54 && sub <= 0x5B: // load and store lane
		r.memarg()
		r.byte()
	case sub <= 0x113: // no immediates (0x0E-0x14, 0x23-0x53, 0x5E-0x113 incl. relaxed SIMD)
	default:
		return fmt.Errorf("unsupported instruction 0xFD %d", sub)
	}
	return nil
}

var (
	appendU = leb.AppendUnsigned
	appendS = leb.AppendSigned
)

func appendName(b []byte, s string) []byte { return append(appendU(b, uint64(len(s))), s...) }
