package meter_test

import (
	"os"
	"path/filepath"
	"testing"

	"taskhost.dev/host/internal/meter"
	"taskhost.dev/internal/testplugins"
)

// BenchmarkInstrument rewrites the Go core plugin basic_operations (about
// 4 MB), as every plugin load does.
func BenchmarkInstrument(b *testing.B) {
	wasm, err := os.ReadFile(filepath.Join(testplugins.Core(b), "basic_operations.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		if _, err := meter.Instrument(wasm, 10_000); err != nil {
			b.Fatal(err)
		}
	}
}
