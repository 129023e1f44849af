// Package extism implements the Extism host ABI (import module
// "extism:host/env") in Go over wazero, so that any plugin built with an
// Extism PDK runs in the task host without Extism's go-sdk on the hot path.
//
// The Extism kernel's memory (where input, output, errors, config values and
// HTTP bodies live) is a per-instance Go arena instead of a second WebAssembly
// module, and every host function is bound once when the module is built:
// nothing is looked up by name per call. The state of the calling instance
// travels in the context (NewContext, FromContext).
package extism
