package host

import (
	"crypto/sha256"
	"sync"
)

// wazero's compiler engine, shared by every runtime made with one
// compilation cache (all of a host's plugins), has a race when two
// runtimes compile the same module at once and it comes from the file
// cache: the second finds the first's compiled module in memory before
// its entry preambles exist, and the first call of one of its functions
// panics ("index out of range" in wazevo's moduleEngine.NewFunction; seen
// under -race, with two manifest plugins of one module loading in
// parallel). Compilations of identical bytes are therefore serialised;
// different modules still compile in parallel.

var compileLocks sync.Map // [32]byte (the bytes' sha256) -> *sync.Mutex

// lockCompile holds the lock of these module bytes until the returned
// function is called.
func lockCompile(wasm []byte) (unlock func()) {
	m, _ := compileLocks.LoadOrStore(sha256.Sum256(wasm), new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// lockKernel is lockCompile for the Extism kernel, whose bytes follow
// from its two sizes.
func lockKernel(maxMemory, maxOutput int64) (unlock func()) {
	m, _ := compileLocks.LoadOrStore([2]int64{maxMemory, maxOutput}, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}
