//go:build unix

package host

import (
	"context"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// Linear memories live outside the Go heap, in a mapping of their own that
// reserves the memory's maximum at once: growing one only extends the
// slice over pages the kernel supplies when first touched, so a memory
// grown to its cap costs about the cap in resident memory (a Go slice grown
// by copying cost up to three times as much, and the Go heap kept the
// copies), and closing the instance gives it all back to the system.

// withLinearMemory returns ctx with the allocator instances are made with.
func withLinearMemory(ctx context.Context) context.Context {
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(newMappedMemory))
}

// mappedMemory is a linear memory backed by an anonymous private mapping.
type mappedMemory struct {
	buf []byte // the whole reservation; nil once freed
}

func newMappedMemory(_, max uint64) experimental.LinearMemory {
	m := &mappedMemory{}
	if max == 0 || max > maxMapped {
		return m // Reallocate refuses; wazero reports the failure
	}
	buf, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err == nil {
		m.buf = buf
	}
	return m
}

// maxMapped bounds one reservation: the 4 GiB of a 32-bit memory.
const maxMapped = 1 << 32

// Reallocate implements experimental.LinearMemory: the memory's first size
// bytes, at the same address every time; nil past the reservation (the
// guest's memory.grow then fails, as at its limit).
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() {
	if m.buf != nil {
		syscall.Munmap(m.buf)
		m.buf = nil
	}
}
