// Package abi is the contract between the task host and its plugins.
//
// It holds only constants and plain types, and imports nothing but the
// standard library, so that guest code compiled to WebAssembly can import it
// as well as the host.
//
// A plugin is an Extism plugin: a WebAssembly module whose tasks are exported
// functions of type () -> i32 that read their input and write their output
// through the Extism host functions (module [ExtismModule]). Task input and
// output are JSON documents. On top of that, a module may describe itself by
// exporting [MetaExport], an Extism function whose output is a [Meta]
// document naming the ABI version it speaks and its tasks; such a module
// registers itself when dropped into the plugins folder. A plain Extism
// plugin without that export is served through a manifest entry that names
// its functions.
//
// Data flow: manifest -> host (loads and verifies plugins against this
// contract) -> backend -> engine -> host -> plugin.
package abi
