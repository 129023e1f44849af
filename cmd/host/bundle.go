package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"taskhost.dev/host/bundle"
)

const bundleSynopsis = `Usage:
  host bundle keygen --out DIR [--name NAME]
      write a new ed25519 key pair: NAME.key (secret: keep it out of the
      repository) and NAME.pub (give it to workers with --bundle-key)
  host bundle build --key NAME.key --manifest M --out FILE.tbundle
      bundle the manifest M and every module it names, signed with the key
  host bundle verify --bundle-key NAME.pub FILE.tbundle...
      check bundles' signatures and contents; exit 1 on any problem

A worker loads bundles given with --bundle or found in --bundles-dir
(default bundles/) and refuses any whose signature does not check against
a --bundle-key.`

func cmdBundle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(stderr, bundleSynopsis)
		if len(args) == 0 {
			return usageErr("want keygen, build or verify")
		}
		return nil
	}
	fs := newFlagSet("host bundle "+args[0], bundleSynopsis, stderr)
	switch args[0] {
	case "keygen":
		out := fs.String("out", ".", "`folder` for the key files")
		name := fs.String("name", "bundle", "key file `name`, without extension")
		if err := fs.Parse(args[1:]); err != nil {
			return &usageError{err.Error()}
		}
		pub, priv, err := bundle.GenerateKey()
		if err != nil {
			return err
		}
		keyFile := filepath.Join(*out, *name+".key")
		if _, err := os.Stat(keyFile); err == nil {
			return fmt.Errorf("%s exists; remove it or pick another --name (a key is never overwritten)", keyFile)
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(keyFile, []byte(bundle.EncodePrivateKey(priv)), 0o600); err != nil {
			return err
		}
		pubFile := filepath.Join(*out, *name+".pub")
		if err := os.WriteFile(pubFile, []byte(bundle.EncodePublicKey(pub)), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s: secret %s, public %s\n", bundle.KeyID(pub), keyFile, pubFile)
		return nil
	case "build":
		keyFile := fs.String("key", "", "the signing key `file` (host bundle keygen)")
		manifest := fs.String("manifest", "", "the `manifest` naming the plugins to bundle")
		out := fs.String("out", "", "the bundle `file` to write (.tbundle)")
		if err := fs.Parse(args[1:]); err != nil {
			return &usageError{err.Error()}
		}
		if *keyFile == "" || *manifest == "" || *out == "" {
			return usageErr("build needs --key, --manifest and --out")
		}
		key, err := bundle.ReadPrivateKey(*keyFile)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := bundle.Build(&buf, *manifest, key); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d bytes, signed by key %s\n", *out, buf.Len(), bundle.KeyID(key.Public().(ed25519.PublicKey)))
		return nil
	case "verify":
		var keys []string
		fs.Func("bundle-key", "a trusted public key `file`, repeatable", func(v string) error { keys = append(keys, v); return nil })
		pos := []string{}
		rest := args[1:]
		for {
			if err := fs.Parse(rest); err != nil {
				return &usageError{err.Error()}
			}
			if fs.NArg() == 0 {
				break
			}
			pos = append(pos, fs.Arg(0))
			rest = fs.Args()[1:]
		}
		if len(pos) == 0 {
			return usageErr("verify needs at least one bundle file")
		}
		var pubs []ed25519.PublicKey
		for _, k := range keys {
			pub, err := bundle.ReadPublicKey(k)
			if err != nil {
				return err
			}
			pubs = append(pubs, pub)
		}
		for _, f := range pos {
			b, err := bundle.Open(f, pubs)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "ok: %s, signed by key %s, %v\n", f, b.KeyID, b.Files())
		}
		return nil
	}
	return usageErr("unknown subcommand %q; want keygen, build or verify", args[0])
}
