package meter

import (
	"errors"
	"fmt"
)

func (m *rewriter) codeSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	if r.err == nil && n != m.funcs {
		return nil, fmt.Errorf("meter: code section: %d bodies for the %d functions the function section declares", n, m.funcs)
	}
	out := make([]byte, 0, len(body)+len(body)/4)
	out = appendU(out, uint64(n))
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		fr := &reader{b: r.bytes(int(size))}
		if r.err != nil {
			break
		}
		// The body goes straight into out behind a 5-byte size, filled in
		// once known (a padded LEB128 is valid).
		at := len(out)
		out = append(out, 0x80, 0x80, 0x80, 0x80, 0x00)
		for groups := fr.u32(); groups > 0 && fr.err == nil; groups-- { // locals
			fr.u32()
			fr.byte()
		}
		out = append(out, fr.b[:fr.pos]...)
		// A body that opens with a loop (every Go function does) gets the
		// loop's check at entry anyway.
		if fr.eof() || fr.b[fr.pos] != 0x03 {
			out = m.check(out)
		}
		var err error
		out, err = m.instrs(fr, out, false)
		if err == nil {
			err = fr.err
		}
		if err == nil && !fr.eof() {
			err = errors.New("bytes after the function's end")
		}
		if err != nil {
			return nil, fmt.Errorf("meter: function %d: %w", m.funcImports+i, err)
		}
		putU32Padded(out[at:at+5], uint32(len(out)-at-5))
	}
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("meter: code section: %w", r.err)
	}
	return out, nil
}

// putU32Padded writes v as a 5-byte LEB128.
func putU32Padded(b []byte, v uint32) {
	for i := range 4 {
		b[i] = byte(v&0x7f) | 0x80
		v >>= 7
	}
	b[4] = byte(v)
}

// check appends the fuel check:
//
//	global.get $fuel  i32.eqz  if  call $yield  global.set $fuel  end
//	global.get $fuel  i32.const 1  i32.sub  global.set $fuel
func (m *rewriter) check(out []byte) []byte {
	out = appendU(append(out, 0x23), uint64(m.fuelGlobal))
	out = append(out, 0x45, 0x04, 0x40, 0x10)
	out = appendU(out, uint64(m.yieldFunc))
	out = appendU(append(out, 0x24), uint64(m.fuelGlobal))
	out = append(out, 0x0B)
	out = appendU(append(out, 0x23), uint64(m.fuelGlobal))
	out = append(out, 0x41, 0x01, 0x6B)
	return appendU(append(out, 0x24), uint64(m.fuelGlobal))
}

// instrs copies instructions from r to out, renumbering functions and
// adding a check after each loop's block type; it refuses an index of a
// type, function, table or global that the module does not declare. In a
// constant expression (one) it stops after the first end; otherwise at the
// end of r.
func (m *rewriter) instrs(r *reader, out []byte, one bool) ([]byte, error) {
	from := r.pos // start of the bytes not yet copied
	for !r.eof() && r.err == nil {
		at := r.pos
		op := r.byte()
		var err error
		switch {
		case op == 0x0B: // end
			if one {
				return append(out, r.b[from:r.pos]...), r.err
			}
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0F || op == 0x1A || op == 0x1B || op == 0xD1:
		case op == 0x02 || op == 0x04: // block, if
			if t, ok := r.blockType(); ok {
				err = m.checkType(t)
			}
		case op == 0x03: // loop
			if t, ok := r.blockType(); ok {
				err = m.checkType(t)
			}
			out = append(out, r.b[from:r.pos]...)
			out = m.check(out)
			from = r.pos
		case op == 0x0C || op == 0x0D: // br, br_if
			r.u32()
		case op == 0x0E: // br_table
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.u32()
			}
			r.u32()
		case op == 0x10 || op == 0x12 || op == 0xD2: // call, return_call, ref.func
			f := r.u32()
			if err = m.checkFunc(f); err == nil && r.err == nil {
				out = append(out, r.b[from:at+1]...)
				out = appendU(out, uint64(m.fn(f)))
				from = r.pos
			}
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			if err = m.checkType(r.u32()); err == nil {
				err = m.checkTable(r.u32())
			}
		case op == 0x1C: // select t*
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.byte()
			}
		case op >= 0x20 && op <= 0x22: // locals
			r.u32()
		case op == 0x23 || op == 0x24: // global.get, global.set
			err = m.checkGlobal(r.u32())
		case op == 0x25 || op == 0x26: // table.get, table.set
			err = m.checkTable(r.u32())
		case op >= 0x28 && op <= 0x3E: // loads and stores
			r.memarg()
		case op == 0x3F || op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41: // i32.const
			r.sleb(32)
		case op == 0x42: // i64.const
			r.sleb(64)
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op >= 0x45 && op <= 0xC4: // numeric, no immediates
		case op == 0xD0: // ref.null t
			r.byte()
		case op == 0xFC:
			err = r.prefixFC(m.checkTable)
		case op == 0xFD:
			err = r.prefixFD()
		default:
			return nil, fmt.Errorf("unsupported opcode 0x%02x at byte %d of the function", op, at)
		}
		if err != nil && r.err == nil { // an index read past the end is the reader's error
			return nil, fmt.Errorf("%w, at byte %d", err, at)
		}
	}
	if r.err == nil && one {
		return nil, errors.New("constant expression without an end")
	}
	return append(out, r.b[from:r.pos]...), r.err
}
