// Package wasmtest builds small WebAssembly modules byte by byte for the
// tests of the meter (host/internal/meter) and of the sandbox: guests that
// never end, in every loop and call shape the binary format has, and
// hostile ones that use indices they do not declare.
package wasmtest

import "encoding/binary"

// Header is the preamble of a WebAssembly 1.0 binary module.
var Header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Value types.
const (
	I32 = 0x7F
	I64 = 0x7E
)

// U encodes v as an unsigned LEB128 (which is Go's uvarint). The few
// signed immediates the modules here use are below 64, where a signed
// LEB128 is the same single byte.
func U(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// Cat concatenates its arguments.
func Cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Name encodes a name: its length, then its bytes.
func Name(s string) []byte { return Cat(U(uint64(len(s))), []byte(s)) }

// Section encodes a section whose body is a vector of items.
func Section(id byte, items ...[]byte) []byte {
	body := Cat(U(uint64(len(items))), Cat(items...))
	return Cat([]byte{id}, U(uint64(len(body))), body)
}

// Custom encodes a custom section.
func Custom(name string, body []byte) []byte {
	b := Cat(Name(name), body)
	return Cat([]byte{0}, U(uint64(len(b))), b)
}

// FuncType encodes a function type.
func FuncType(params, results []byte) []byte {
	return Cat([]byte{0x60}, U(uint64(len(params))), params, U(uint64(len(results))), results)
}

// Code encodes a function body (a code section entry): its local
// declarations (already encoded, with their count first) and its
// instructions, which must end with end (0x0B).
func Code(locals []byte, code ...byte) []byte {
	body := Cat(locals, code)
	return Cat(U(uint64(len(body))), body)
}

// NoLocals is the local declarations of a function without locals.
var NoLocals = []byte{0}

// Export encodes an export of kind (0 function, 1 table, 2 memory, 3
// global) and index.
func Export(name string, kind byte, index uint32) []byte {
	return Cat(Name(name), []byte{kind}, U(uint64(index)))
}

// Module is a module's sections, each item already encoded; an empty
// section is left out.
type Module struct {
	Types    [][]byte // FuncType
	Imports  [][]byte
	Funcs    []uint32 // each defined function's type index
	Tables   [][]byte
	Memories [][]byte
	Globals  [][]byte
	Exports  [][]byte // Export
	Start    []byte   // the start function's index, encoded; nil for none
	Elems    [][]byte
	Codes    [][]byte // Code, one per Funcs entry
	Datas    [][]byte
}

// Bytes encodes the module.
func (m *Module) Bytes() []byte {
	out := append([]byte(nil), Header...)
	add := func(id byte, items [][]byte) {
		if len(items) > 0 {
			out = append(out, Section(id, items...)...)
		}
	}
	add(1, m.Types)
	add(2, m.Imports)
	var funcs [][]byte
	for _, t := range m.Funcs {
		funcs = append(funcs, U(uint64(t)))
	}
	add(3, funcs)
	add(4, m.Tables)
	add(5, m.Memories)
	add(6, m.Globals)
	add(7, m.Exports)
	if m.Start != nil {
		out = append(out, Cat([]byte{8}, U(uint64(len(m.Start))), m.Start)...)
	}
	add(9, m.Elems)
	add(10, m.Codes)
	add(11, m.Datas)
	return out
}
