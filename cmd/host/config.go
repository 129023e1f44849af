package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"taskhost.dev/host"
	"taskhost.dev/host/bundle"
	"taskhost.dev/worker"
)

// hostFlags are the flags every command shares: where plugins come from and
// how to log. Precedence: flag, then environment, then default.
type hostFlags struct {
	manifest   string
	pluginsDir string
	cacheDir   string
	logLevel   string
	logFormat  string
	bundles    []string
	bundlesDir string
	bundleKeys []string

	manifestSet bool // given by flag or env, so it must exist
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func (f *hostFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.manifest, "manifest", envOr("TASKHOST_MANIFEST", "manifest.toml"), "the manifest `file` (env TASKHOST_MANIFEST); skipped when the default is missing")
	fs.StringVar(&f.pluginsDir, "plugins-dir", envOr("TASKHOST_PLUGINS_DIR", "plugins"), "`folder` scanned for self-describing .wasm plugins (env TASKHOST_PLUGINS_DIR)")
	fs.StringVar(&f.cacheDir, "cache-dir", envOr("TASKHOST_CACHE_DIR", ""), "compilation cache `folder`, or off (env TASKHOST_CACHE_DIR; default "+host.DefaultCacheDir()+")")
	fs.StringVar(&f.logLevel, "log-level", envOr("TASKHOST_LOG_LEVEL", "warn"), "log `level`: debug, info, warn or error (env TASKHOST_LOG_LEVEL)")
	fs.StringVar(&f.logFormat, "log-format", envOr("TASKHOST_LOG_FORMAT", "text"), "log `format`: text or json (env TASKHOST_LOG_FORMAT)")
	f.bundles = splitList(os.Getenv("TASKHOST_BUNDLES"))
	fs.Func("bundle", "a signed plugin bundle `file` to load, repeatable (env TASKHOST_BUNDLES, comma-separated)", func(v string) error {
		f.bundles = append(f.bundles, v)
		return nil
	})
	fs.StringVar(&f.bundlesDir, "bundles-dir", envOr("TASKHOST_BUNDLES_DIR", "bundles"), "`folder` whose *.tbundle files are loaded; skipped when missing (env TASKHOST_BUNDLES_DIR)")
	f.bundleKeys = splitList(os.Getenv("TASKHOST_BUNDLE_KEYS"))
	fs.Func("bundle-key", "a trusted public key `file` for bundles, repeatable (env TASKHOST_BUNDLE_KEYS, comma-separated)", func(v string) error {
		f.bundleKeys = append(f.bundleKeys, v)
		return nil
	})
}

// parse parses args with fs, flags and arguments in any order, and notes
// whether the manifest was named. It returns the positional arguments.
func (f *hostFlags) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()} // exit 2, as for any bad command line
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	f.manifestSet = os.Getenv("TASKHOST_MANIFEST") != ""
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "manifest" {
			f.manifestSet = true
		}
	})
	return pos, nil
}

func (f *hostFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, usageErr("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(f.logFormat) {
	case "text":
		return slog.New(worker.TraceLogs(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(worker.TraceLogs(slog.NewJSONHandler(w, opts))), nil
	}
	return nil, usageErr("--log-format %q: want text or json", f.logFormat)
}

// tracedHTTP is the HTTP client of plugins' requests when traces are on
// (startTracing); nil otherwise.
var tracedHTTP *http.Client

// embeddedFiles is a bundle and its key built into the binary (build tag
// embedbundle); nil otherwise.
type embeddedFiles struct{ bundle, key []byte }

var embedded *embeddedFiles

// config turns the flags into a host.Config.
func (f *hostFlags) config(stderr io.Writer) (host.Config, error) {
	logger, err := f.logger(stderr)
	if err != nil {
		return host.Config{}, err
	}
	cfg := host.Config{Manifest: f.manifest, PluginsDir: f.pluginsDir, CacheDir: f.cacheDir, Logger: logger,
		Bundles: f.bundles, BundlesDir: f.bundlesDir, HTTPClient: tracedHTTP}
	if embedded != nil {
		pub, err := bundle.ParsePublicKey(embedded.key)
		if err != nil {
			return host.Config{}, fmt.Errorf("the embedded bundle key: %w", err)
		}
		cfg.BundleKeys = append(cfg.BundleKeys, pub)
		cfg.BundleBytes = map[string][]byte{"embedded": embedded.bundle}
	}
	for _, k := range f.bundleKeys {
		pub, err := bundle.ReadPublicKey(k)
		if err != nil {
			return host.Config{}, usageErr("--bundle-key: %v", err)
		}
		cfg.BundleKeys = append(cfg.BundleKeys, pub)
	}
	if _, err := os.Stat(f.manifest); errors.Is(err, fs.ErrNotExist) && !f.manifestSet {
		cfg.Manifest = ""
	}
	return cfg, nil
}

// load loads the host the flags describe.
func (f *hostFlags) load(ctx context.Context, stderr io.Writer) (*host.Host, error) {
	cfg, err := f.config(stderr)
	if err != nil {
		return nil, err
	}
	return host.Load(ctx, cfg)
}

// loadTasks loads what a client command needs of the plugins, their tasks,
// without compiling the plugins whose metadata the cache has (a worker or
// an earlier command put it there): lazily (host.Config.Lazy).
func (f *hostFlags) loadTasks(ctx context.Context, stderr io.Writer) (*host.Host, error) {
	cfg, err := f.config(stderr)
	if err != nil {
		return nil, err
	}
	cfg.Lazy = true
	return host.Load(ctx, cfg)
}

// newFlagSet returns a flag set that prints its usage to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
