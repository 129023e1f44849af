package extism

// A minimal WebAssembly binary encoder, just enough to generate the kernel
// module (kernel.go).

import "taskhost.dev/host/internal/leb"

const (
	tI32 = 0x7F
	tI64 = 0x7E
)

// Opcodes used by the kernel.
const (
	opUnreachable = 0x00
	opIf          = 0x04
	opElse        = 0x05
	opEnd         = 0x0B
	opReturn      = 0x0F
	opCall        = 0x10
	opDrop        = 0x1A
	opLocalGet    = 0x20
	opLocalSet    = 0x21
	opLocalTee    = 0x22
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opI64Load     = 0x29
	opI32Load8U   = 0x2D
	opI64Store    = 0x37
	opI32Store8   = 0x3A
	opMemorySize  = 0x3F
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI64Const    = 0x42
	opI32Eqz      = 0x45
	opI32Eq       = 0x46
	opI64Eqz      = 0x50
	opI64Eq       = 0x51
	opI64LtU      = 0x54
	opI64GtU      = 0x56
	opI64Add      = 0x7C
	opI64Sub      = 0x7D
	opI64And      = 0x83
	opI64Shl      = 0x86
	opI64ShrU     = 0x88
	opI32WrapI64  = 0xA7
	opI64ExtendU  = 0xAD
	opBlockVoid   = 0x40
	opBlockI64    = tI64
	opPrefixFC    = 0xFC
	opMemoryFill  = 0x0B // after 0xFC
)

func uleb(v uint64) []byte { return leb.AppendUnsigned(nil, v) }

func sleb(v int64) []byte { return leb.AppendSigned(nil, v) }

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func vec(items ...[]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(body)))...), body...)
}

// asm builds an instruction sequence.
type asm []byte

func (a asm) op(ops ...byte) asm           { return append(a, ops...) }
func (a asm) local(op byte, i uint32) asm  { return append(append(a, op), uleb(uint64(i))...) }
func (a asm) global(op byte, i uint32) asm { return append(append(a, op), uleb(uint64(i))...) }
func (a asm) i64(v int64) asm              { return append(append(a, opI64Const), sleb(v)...) }
func (a asm) i32(v int32) asm              { return append(append(a, opI32Const), sleb(int64(v))...) }
func (a asm) call(f uint32) asm            { return append(append(a, opCall), uleb(uint64(f))...) }
func (a asm) mem(op byte, align uint32) asm {
	return append(append(a, op), append(uleb(uint64(align)), 0)...)
}
func (a asm) addr(i uint32) asm { return a.local(opLocalGet, i).op(opI32WrapI64) }
func (a asm) globalAddr(g uint32, l uint32) asm {
	return a.global(opGlobalGet, g).local(opLocalGet, l).op(opI64Add, opI32WrapI64)
}
