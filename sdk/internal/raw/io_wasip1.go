package raw

import (
	"encoding/binary"
	"unsafe"
)

// The Extism calls that move a task's input and output. go-pdk has them
// too; these copy eight words per loop iteration because under the host's
// termination checks every iteration of a guest loop costs a trip into the
// host (about 0.1 us), while a call into the Extism kernel does not.

//go:wasmimport extism:host/env input_length
func inputLength() uint64

//go:wasmimport extism:host/env input_load_u64
func inputLoadU64(off uint64) uint64

//go:wasmimport extism:host/env input_load_u8
func inputLoadU8(off uint64) uint32

//go:wasmimport extism:host/env alloc
func alloc(n uint64) uint64

//go:wasmimport extism:host/env store_u64
func storeU64(off, v uint64)

//go:wasmimport extism:host/env store_u8
func storeU8(off uint64, v uint32)

//go:wasmimport extism:host/env output_set
func outputSet(off, n uint64)

//go:wasmimport extism:host/env error_set
func errorSet(off uint64)

// Input returns the task's input.
func Input() []byte {
	n := inputLength()
	buf := make([]byte, n)
	i := uint64(0)
	for ; i+64 <= n; i += 64 {
		w := (*[8]uint64)(unsafe.Pointer(&buf[i]))
		w[0] = inputLoadU64(i)
		w[1] = inputLoadU64(i + 8)
		w[2] = inputLoadU64(i + 16)
		w[3] = inputLoadU64(i + 24)
		w[4] = inputLoadU64(i + 32)
		w[5] = inputLoadU64(i + 40)
		w[6] = inputLoadU64(i + 48)
		w[7] = inputLoadU64(i + 56)
	}
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], inputLoadU64(i))
	}
	for ; i < n; i++ {
		buf[i] = byte(inputLoadU8(i))
	}
	return buf
}

// store copies b into a new Extism memory block and returns its offset.
func store(b []byte) uint64 {
	n := uint64(len(b))
	off := alloc(n)
	i := uint64(0)
	for ; i+64 <= n; i += 64 {
		w := (*[8]uint64)(unsafe.Pointer(&b[i]))
		storeU64(off+i, w[0])
		storeU64(off+i+8, w[1])
		storeU64(off+i+16, w[2])
		storeU64(off+i+24, w[3])
		storeU64(off+i+32, w[4])
		storeU64(off+i+40, w[5])
		storeU64(off+i+48, w[6])
		storeU64(off+i+56, w[7])
	}
	for ; i+8 <= n; i += 8 {
		storeU64(off+i, binary.LittleEndian.Uint64(b[i:]))
	}
	for ; i < n; i++ {
		storeU8(off+i, uint32(b[i]))
	}
	return off
}

// Output hands b to the host as the task's output.
func Output(b []byte) { outputSet(store(b), uint64(len(b))) }

// Error hands msg to the host as the task's error.
func Error(msg []byte) { errorSet(store(msg)) }
