package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"taskhost.dev/host/bundle"
)

// BundleExt is the file extension of plugin bundles.
const BundleExt = ".tbundle"

// bundleDir is where verified bundles are unpacked: beside the compilation
// cache, or in the temporary folder when the cache is off.
func (h *Host) bundleDir(cfg Config) string {
	if h.meterDir != "" {
		return filepath.Join(filepath.Dir(h.meterDir), "bundles")
	}
	return filepath.Join(os.TempDir(), "taskhost-bundles")
}

// openBundles verifies every configured bundle, unpacks it into dir and
// reads its manifest.
func openBundles(cfg Config, dir string) ([]*Manifest, error) {
	files := append([]string(nil), cfg.Bundles...)
	if cfg.BundlesDir != "" {
		found, err := filepath.Glob(filepath.Join(cfg.BundlesDir, "*"+BundleExt))
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(cfg.BundlesDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bundles folder %s: %w", cfg.BundlesDir, err)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	var out []*Manifest
	names := make([]string, 0, len(cfg.BundleBytes))
	for n := range cfg.BundleBytes {
		names = append(names, n)
	}
	sort.Strings(names)
	var opened []*bundle.Bundle
	for _, n := range names {
		b, err := bundle.OpenBytes(n, cfg.BundleBytes[n], cfg.BundleKeys)
		if err != nil {
			return nil, err
		}
		opened = append(opened, b)
	}
	for _, f := range files {
		b, err := bundle.Open(f, cfg.BundleKeys)
		if err != nil {
			return nil, err
		}
		opened = append(opened, b)
	}
	for _, b := range opened {
		f := b.Path
		mf, err := b.Extract(dir)
		if err != nil {
			return nil, err
		}
		m, err := LoadManifest(mf)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", f, err)
		}
		out = append(out, m)
	}
	return out, nil
}
