package host

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
)

// The metadata cache lets a client learn the plugins' tasks without
// compiling them (Config.Lazy): a full load writes each plugin's raw
// metadata, as its abi.MetaExport returned it, to a file named by its
// modules' digests; a later load for the tasks only reads it back and
// merges it with the manifest as a full load does. A module's bytes fix
// its metadata, so an entry never goes stale; a changed module has another
// digest.

// metaCacheVersion is part of every key: raise it when what a host accepts
// at load changes (the meter's or the validator's rules), so that a host
// so changed loads every plugin in full once more before trusting the
// cache.
const metaCacheVersion = "taskhost-meta-1"

// metaEntry is one cached plugin's metadata.
type metaEntry struct {
	// Meta is the module's metadata; absent when it exports none (a plain
	// Extism plugin, whose tasks the manifest names).
	Meta json.RawMessage `json:"meta,omitempty"`
}

// metaKey names the entry of a plugin of these modules.
func metaKey(files []moduleFile) string {
	h := sha256.New()
	h.Write([]byte(metaCacheVersion + "\n"))
	for _, f := range files {
		h.Write([]byte(f.digest + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)) + ".json"
}

// cachedMeta returns the plugin's cached raw metadata (nil for a module
// that exports none) and whether the cache had it.
func (h *Host) cachedMeta(files []moduleFile) ([]byte, bool) {
	if h.metaDir == "" {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(h.metaDir, metaKey(files)))
	if err != nil {
		return nil, false
	}
	var e metaEntry
	if json.Unmarshal(b, &e) != nil {
		return nil, false // a torn write: load in full, which rewrites it
	}
	if e.Meta == nil {
		return nil, true
	}
	return e.Meta, true
}

// storeMeta caches a fully loaded plugin's raw metadata. A failure costs a
// later client a full load, nothing else, so it is not reported.
func (h *Host) storeMeta(files []moduleFile, raw []byte) {
	if h.metaDir == "" {
		return
	}
	b, err := json.Marshal(metaEntry{Meta: raw})
	if err != nil || os.MkdirAll(h.metaDir, 0o755) != nil {
		return
	}
	f, err := os.CreateTemp(h.metaDir, "entry-*.tmp")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr != nil || cerr != nil {
		os.Remove(f.Name())
		return
	}
	// Atomic: a reader sees the old entry or the new one.
	if os.Rename(f.Name(), filepath.Join(h.metaDir, metaKey(files))) != nil {
		os.Remove(f.Name())
	}
}
