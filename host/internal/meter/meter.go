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
//
// What the rewrite adds must stay out of the guest's reach: the fuel is the
// last global, the yield type the last type, and the yield import takes a
// function index that no index of the original maps to. The caller must
// validate the original module (Instrument is no validator), but the
// rewriter does not rely on it: it refuses a module whose sections are out
// of order or repeated, or that uses a type, function, table or global
// index at or past the number the module itself declares, so that an index
// that would alias what the rewrite adds is an error, never a way to it.
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

// Version changes whenever Instrument's output for the same input does,
// or what it accepts.
const Version = 3

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
)

// order is a section's place in a module (custom sections excepted).
func order(id byte) float64 {
	if id == secDataCnt {
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
	last := 0.0
	for !r.eof() {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("meter: section %d: %w", id, r.err)
		}
		if id > secDataCnt {
			return nil, fmt.Errorf("meter: unknown section id %d", id)
		}
		if id != secCustom {
			if order(id) <= last {
				return nil, fmt.Errorf("meter: section %d is out of order or repeated", id)
			}
			last = order(id)
		}
		secs = append(secs, section{id, body})
	}
	m := &rewriter{}
	// First pass: what the rewrite depends on.
	for _, s := range secs {
		if err := m.count(s); err != nil {
			return nil, err
		}
	}
	m.yieldFunc = m.funcImports
	m.fuelGlobal = m.globalImports + m.globals
	m.fuel = fuel

	have := map[byte]bool{}
	for _, s := range secs {
		have[s.id] = true
	}
	if have[secFunction] && !have[secCode] && m.funcs > 0 {
		return nil, fmt.Errorf("meter: %d functions declared and no code section", m.funcs)
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
					return nil, fmt.Errorf("meter: name section: %w", err)
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
	types                      uint32 // defined in the module
	funcs, tables, globals     uint32 // defined in the module
	funcImports, globalImports uint32
	tableImports               uint32
	yieldFunc, fuelGlobal      uint32
	fuel                       int32
}

// count reads, from a section of the original module, the numbers of
// types, functions, tables and globals; it checks the type index of each
// function and function import, which the later pass copies unread.
func (m *rewriter) count(s section) error {
	r := &reader{b: s.body}
	what := ""
	switch s.id {
	case secType:
		what = "type"
		m.types = r.u32()
		for i := uint32(0); i < m.types && r.err == nil; i++ {
			if form := r.byte(); form != 0x60 && r.err == nil {
				return fmt.Errorf("meter: type section: type %d: unsupported form 0x%02x", i, form)
			}
			r.bytes(int(r.u32())) // parameters
			r.bytes(int(r.u32())) // results
		}
		r.end()
	case secImport:
		return m.countImports(s.body)
	case secFunction:
		what = "function"
		m.funcs = r.u32()
		for i := uint32(0); i < m.funcs && r.err == nil; i++ {
			if t := r.u32(); t >= m.types && r.err == nil {
				return fmt.Errorf("meter: function section: function %d: %w", m.funcImports+i, outOfRange("type", t, m.types))
			}
		}
		r.end()
	case secTable:
		what = "table"
		m.tables = r.u32()
	case secGlobal:
		what = "global"
		m.globals = r.u32()
	default:
		return nil
	}
	if r.err != nil {
		return fmt.Errorf("meter: %s section: %w", what, r.err)
	}
	return nil
}

func (m *rewriter) countImports(body []byte) error {
	r := &reader{b: body}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // function
			if t := r.u32(); t >= m.types && r.err == nil {
				return fmt.Errorf("meter: import section: function import %d: %w", m.funcImports, outOfRange("type", t, m.types))
			}
			m.funcImports++
		case 0x01: // table
			r.byte()
			r.limits()
			m.tableImports++
		case 0x02: // memory
			r.limits()
		case 0x03: // global
			r.byte()
			r.byte()
			m.globalImports++
		default:
			return fmt.Errorf("meter: import section: unknown import kind 0x%02x", kind)
		}
	}
	r.end()
	if r.err != nil {
		return fmt.Errorf("meter: import section: %w", r.err)
	}
	return nil
}

// outOfRange is the error for an index past the n the module declares.
func outOfRange(kind string, i, n uint32) error {
	return fmt.Errorf("%s index %d out of range (the module has %d)", kind, i, n)
}
