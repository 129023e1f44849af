// Package meter rewrites a WebAssembly module so that a running guest hands
// control back to the host at regular intervals, at the cost of a few
// instructions per loop iteration instead of a trip into Go.
//
// wazero's own way to stop a spinning guest, WithCloseOnContextDone, calls
// from compiled code into Go at the head of every loop to ask whether the
// module was closed: about 50-100 ns each time, and a Go guest has a loop
// in nearly every function, which made that check most of a Go task's
// cost. Instrument instead adds a mutable i32 global, the fuel, and at the
// start of every function and the head of every loop decrements it; when
// it reaches zero the guest calls the imported function
// ImportModule.ImportName, which returns the fuel to start again with.
// That import is the host's chance to stop the guest (it checks whether
// the call's context is done and, if so, panics, which ends the call with
// an error) and, being Go code, a point where the Go scheduler can preempt
// the goroutine, so that a long-running guest never holds up a garbage
// collection for long.
//
// The rewrite appends a type, an import, a global, and shifts the index of
// every function the module defines by one: calls, ref.func, exports, the
// start function, element segments and the name section follow. DWARF
// sections are dropped (their code offsets would be wrong). An opcode or a
// section the rewriter does not know is an error; the caller then runs the
// module unmodified under wazero's own checks.
package meter

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ImportModule and ImportName name the function a metered guest calls
// when its fuel runs out: () -> i32, the new fuel.
const (
	ImportModule = "taskhost:meter"
	ImportName   = "yield"
)

// Version changes whenever Instrument's output for the same input does.
const Version = 2

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Section ids.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secData     = 11
	secDataCnt  = 12
	secTag      = 13
)

// order is a section's place in a module (custom sections excepted).
func order(id byte) float64 {
	switch id {
	case secTag:
		return 5.5
	case secDataCnt:
		return 9.5
	}
	return float64(id)
}

type section struct {
	id   byte
	body []byte
}

// Instrument returns wasm with the fuel checks in, fuel being the number of
// function entries and loop iterations between two calls to the yield
// import.
func Instrument(wasm []byte, fuel int32) ([]byte, error) {
	if fuel <= 0 {
		return nil, errors.New("meter: fuel must be positive")
	}
	if !bytes.HasPrefix(wasm, header) {
		return nil, errors.New("meter: not a WebAssembly 1.0 binary module")
	}
	var secs []section
	r := &reader{b: wasm, pos: len(header)}
	for !r.eof() {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("meter: section %d: %w", id, r.err)
		}
		secs = append(secs, section{id, body})
	}
	m := &rewriter{}
	// First pass: what the rewrite depends on.
	for _, s := range secs {
		switch s.id {
		case secType:
			r := &reader{b: s.body}
			m.types = r.u32()
			if r.err != nil {
				return nil, fmt.Errorf("meter: type section: %w", r.err)
			}
		case secImport:
			if err := m.countImports(s.body); err != nil {
				return nil, err
			}
		case secGlobal:
			r := &reader{b: s.body}
			m.globals = r.u32()
			if r.err != nil {
				return nil, fmt.Errorf("meter: global section: %w", r.err)
			}
		}
	}
	m.yieldFunc = m.funcImports
	m.fuelGlobal = m.globalImports + m.globals
	m.fuel = fuel

	have := map[byte]bool{}
	for _, s := range secs {
		have[s.id] = true
	}
	out := make([]byte, 0, len(wasm)+len(wasm)/4)
	out = append(out, header...)
	// missing adds, before a section that must follow it, each new section
	// the module lacks.
	missing := func(before float64) {
		for _, id := range []byte{secType, secImport, secGlobal} {
			if !have[id] && order(id) < before {
				have[id] = true
				out = appendSection(out, id, m.rewrite(id, nil))
			}
		}
	}
	for _, s := range secs {
		if s.id == secCustom {
			name, ok := customName(s.body)
			if ok && strings.HasPrefix(name, ".debug_") {
				continue
			}
			if ok && name == "name" {
				body, err := m.names(s.body)
				if err != nil {
					continue // names are a convenience: drop what cannot be read
				}
				out = appendSection(out, secCustom, body)
				continue
			}
			out = appendSection(out, secCustom, s.body)
			continue
		}
		missing(order(s.id))
		body, err := m.section(s.id, s.body)
		if err != nil {
			return nil, err
		}
		out = appendSection(out, s.id, body)
	}
	missing(100)
	if m.err != nil {
		return nil, m.err
	}
	return out, nil
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = appendU(out, uint64(len(body)))
	return append(out, body...)
}

func customName(body []byte) (string, bool) {
	r := &reader{b: body}
	n := r.name()
	return n, r.err == nil
}

// rewriter holds what one Instrument call learned of the module.
type rewriter struct {
	types, globals             uint32 // defined in the module
	funcImports, globalImports uint32
	yieldFunc, fuelGlobal      uint32
	fuel                       int32
	err                        error
}

func (m *rewriter) countImports(body []byte) error {
	r := &reader{b: body}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // function
			r.u32()
			m.funcImports++
		case 0x01: // table
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global
			r.byte()
			r.byte()
			m.globalImports++
		case 0x04: // tag
			r.byte()
			r.u32()
		default:
			return fmt.Errorf("meter: import section: unknown import kind 0x%02x", kind)
		}
	}
	if r.err != nil {
		return fmt.Errorf("meter: import section: %w", r.err)
	}
	return nil
}

// rewrite returns the new body of a section the rewrite extends; body is
// nil when the module has none.
func (m *rewriter) rewrite(id byte, body []byte) []byte {
	r := &reader{b: body}
	n := uint32(0)
	if body != nil {
		n = r.u32()
	}
	out := appendU(nil, uint64(n)+1)
	out = append(out, body[r.pos:]...)
	switch id {
	case secType: // () -> i32
		out = append(out, 0x60, 0x00, 0x01, 0x7F)
	case secImport:
		out = appendName(out, ImportModule)
		out = appendName(out, ImportName)
		out = append(out, 0x00)
		out = appendU(out, uint64(m.types))
	case secGlobal: // (mut i32) = fuel
		out = append(out, 0x7F, 0x01, 0x41)
		out = appendS(out, int64(m.fuel))
		out = append(out, 0x0B)
	}
	return out
}

// section returns a known section's new body.
func (m *rewriter) section(id byte, body []byte) ([]byte, error) {
	switch id {
	case secType, secImport:
		return m.rewrite(id, body), nil
	case secGlobal:
		return m.globalSection(body)
	case secExport:
		return m.exportSection(body)
	case secStart:
		r := &reader{b: body}
		f := r.u32()
		if r.err != nil {
			return nil, fmt.Errorf("meter: start section: %w", r.err)
		}
		return appendU(nil, uint64(m.fn(f))), nil
	case secElement:
		return m.elementSection(body)
	case secCode:
		return m.codeSection(body)
	case secFunction, secTable, secMemory, secData, secDataCnt, secTag:
		return body, nil
	}
	return nil, fmt.Errorf("meter: unknown section id %d", id)
}

// fn maps a function index of the original module to the new one.
func (m *rewriter) fn(i uint32) uint32 {
	if i >= m.funcImports {
		return i + 1
	}
	return i
}

func (m *rewriter) globalSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU(nil, uint64(n)+1)
	for ; n > 0 && r.err == nil; n-- {
		out = append(out, r.byte(), r.byte())
		out = m.constExpr(r, out)
	}
	if r.err != nil {
		return nil, fmt.Errorf("meter: global section: %w", r.err)
	}
	out = append(out, 0x7F, 0x01, 0x41)
	out = appendS(out, int64(m.fuel))
	return append(out, 0x0B), nil
}

func (m *rewriter) exportSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU(nil, uint64(n))
	for ; n > 0 && r.err == nil; n-- {
		out = appendName(out, r.name())
		kind, idx := r.byte(), r.u32()
		if kind == 0x00 {
			idx = m.fn(idx)
		}
		out = appendU(append(out, kind), uint64(idx))
	}
	if r.err != nil {
		return nil, fmt.Errorf("meter: export section: %w", r.err)
	}
	return out, nil
}

func (m *rewriter) elementSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU(nil, uint64(n))
	for ; n > 0 && r.err == nil; n-- {
		flags := r.u32()
		if flags > 7 {
			return nil, fmt.Errorf("meter: element section: unknown segment kind %d", flags)
		}
		out = appendU(out, uint64(flags))
		if flags&0b011 == 0b010 { // explicit table index
			out = appendU(out, uint64(r.u32()))
		}
		if flags&0b001 == 0 { // active: offset
			out = m.constExpr(r, out)
		}
		if flags&0b011 != 0 { // element kind or reference type
			out = append(out, r.byte())
		}
		count := r.u32()
		out = appendU(out, uint64(count))
		for ; count > 0 && r.err == nil; count-- {
			if flags&0b100 == 0 {
				out = appendU(out, uint64(m.fn(r.u32())))
			} else {
				out = m.constExpr(r, out)
			}
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("meter: element section: %w", r.err)
	}
	return out, nil
}

// constExpr copies a constant expression, up to and including its end.
func (m *rewriter) constExpr(r *reader, out []byte) []byte {
	res, err := m.instrs(r, out, true)
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return out
	}
	return res
}

func (m *rewriter) codeSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
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
// adding a check after each loop's block type. In a constant expression
// (one) it stops after the first end; otherwise at the end of r.
func (m *rewriter) instrs(r *reader, out []byte, one bool) ([]byte, error) {
	from := r.pos // start of the bytes not yet copied
	for !r.eof() && r.err == nil {
		at := r.pos
		op := r.byte()
		switch {
		case op == 0x0B: // end
			if one {
				return append(out, r.b[from:r.pos]...), r.err
			}
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0F || op == 0x1A || op == 0x1B || op == 0xD1:
		case op == 0x02 || op == 0x04: // block, if
			r.blockType()
		case op == 0x03: // loop
			r.blockType()
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
			if nf := m.fn(f); nf != f {
				out = append(out, r.b[from:at+1]...)
				out = appendU(out, uint64(nf))
				from = r.pos
			}
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			r.u32()
			r.u32()
		case op == 0x1C: // select t*
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.byte()
			}
		case op >= 0x20 && op <= 0x26: // locals, globals, table.get/set
			r.u32()
		case op >= 0x28 && op <= 0x3E: // loads and stores
			r.memarg()
		case op == 0x3F || op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41:
			r.s64()
		case op == 0x42:
			r.s64()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op >= 0x45 && op <= 0xC4: // numeric, no immediates
		case op == 0xD0: // ref.null t
			r.byte()
		case op == 0xFC:
			if err := r.prefixFC(); err != nil {
				return nil, err
			}
		case op == 0xFD:
			if err := r.prefixFD(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unsupported opcode 0x%02x at byte %d of the function", op, at)
		}
	}
	if one {
		return nil, errors.New("constant expression without an end")
	}
	return append(out, r.b[from:r.pos]...), r.err
}

// names rewrites the name section's function indices (subsections 1
// function names, 2 local names, 3 label names); other subsections are
// kept as they are.
func (m *rewriter) names(body []byte) ([]byte, error) {
	r := &reader{b: body}
	r.name()
	out := append([]byte(nil), body[:r.pos]...)
	for !r.eof() && r.err == nil {
		id := r.byte()
		sub := r.bytes(int(r.u32()))
		if r.err != nil {
			break
		}
		if id < 1 || id > 3 {
			out = appendSection(out, id, sub)
			continue
		}
		sr := &reader{b: sub}
		n := sr.u32()
		nb := appendU(nil, uint64(n))
		for ; n > 0 && sr.err == nil; n-- {
			nb = appendU(nb, uint64(m.fn(sr.u32())))
			if id == 1 {
				nb = appendName(nb, sr.name())
				continue
			}
			start := sr.pos
			for k := sr.u32(); k > 0 && sr.err == nil; k-- {
				sr.u32()
				sr.name()
			}
			nb = append(nb, sr.b[start:sr.pos]...)
		}
		if sr.err != nil {
			return nil, sr.err
		}
		out = appendSection(out, id, nb)
	}
	return out, r.err
}
