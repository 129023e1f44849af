package host

import "sync"

// wazero's compiler engine, shared by every runtime made with one
// compilation cache (all of a host's plugins), has a race when two
// runtimes compile the same module at once and it comes from the file
// cache: the second finds the first's compiled module in memory before
// its entry preambles exist, and the first call of one of its functions
// panics ("index out of range" in wazevo's moduleEngine.NewFunction; seen
// under -race, with two manifest plugins of one module loading in
// parallel). Compilations of identical bytes are therefore serialised;
// different modules still compile in parallel.

var compileLocks sync.Map // a module file's hex sha256, or the kernel's sizes -> *sync.Mutex

// lockCompile holds the lock of a module file's bytes, named by the
// digest read at load (what the meter makes of them follows from them),
// until the returned function is called.
func lockCompile(digest string) (unlock func()) {
	m, _ := compileLocks.LoadOrStore(digest, new(sync.Mutex))
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
