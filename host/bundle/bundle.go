// Package bundle builds and verifies signed plugin bundles: one file that
// carries a manifest.toml and the modules it names, signed with an ed25519
// key, so that plugins built elsewhere (the enterprise plugins, say) can be
// shipped to workers that trust only the keys they are configured with.
//
// A bundle is a zip archive of manifest.toml, the .wasm files it names
// (paths relative to the bundle, sha256 pinned) and SIGNATURE. The
// signature covers the bundle's listing: one line "<sha256 hex>  <name>"
// per file other than SIGNATURE, sorted by name. Open checks the signature
// against the trusted keys and every file against the listing, so a file
// changed, added or removed after signing, an unsigned bundle and a bundle
// signed by another key are all refused.
package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// ManifestName and SignatureName are the bundle's fixed entries.
const (
	ManifestName  = "manifest.toml"
	SignatureName = "SIGNATURE"
)

// maxFile bounds one entry's size when reading a bundle.
const maxFile = 256 << 20

// signature is the SIGNATURE entry.
type signature struct {
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// KeyID names a public key: the hex of its sha256's first 8 bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey returns a new key pair.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// EncodePublicKey and EncodePrivateKey give a key's text form (base64 of
// the raw key; the private one is ed25519's 64-byte form).
func EncodePublicKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) + "\n" }
func EncodePrivateKey(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k) + "\n"
}

// ReadPublicKey reads a public key file written by EncodePublicKey.
func ReadPublicKey(file string) (ed25519.PublicKey, error) {
	b, err := readKey(file, ed25519.PublicKeySize)
	return ed25519.PublicKey(b), err
}

// ReadPrivateKey reads a private key file written by EncodePrivateKey.
func ReadPrivateKey(file string) (ed25519.PrivateKey, error) {
	b, err := readKey(file, ed25519.PrivateKeySize)
	return ed25519.PrivateKey(b), err
}

func readKey(file string, size int) ([]byte, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	b, err := parseKey(text, size)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	return b, nil
}

// ParsePublicKey reads a public key in its text form.
func ParsePublicKey(text []byte) (ed25519.PublicKey, error) {
	b, err := parseKey(text, ed25519.PublicKeySize)
	return ed25519.PublicKey(b), err
}

func parseKey(text []byte, size int) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("not a base64 ed25519 key of %d bytes (make one with host bundle keygen)", size)
	}
	return b, nil
}

// manifestPaths reads the plugin paths of a manifest, leniently: the host
// checks the manifest strictly when it loads the bundle.
type manifestPaths struct {
	Plugin []struct {
		Path any `toml:"path"` // a file, or a list of modules
	} `toml:"plugin"`
}

// modulePaths returns a plugin's path value as a list.
func modulePaths(v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, len(out) > 0
	}
	return nil, false
}

// Build writes to w a bundle of the manifest at manifestFile and every
// module it names, signed with key. The bundle's manifest is the original
// with each plugin's path replaced by the module's file name and its sha256
// pinned.
func Build(w io.Writer, manifestFile string, key ed25519.PrivateKey) error {
	text, err := os.ReadFile(manifestFile)
	if err != nil {
		return err
	}
	var m manifestPaths
	if _, err := toml.Decode(string(text), &m); err != nil {
		return fmt.Errorf("%s: %w", manifestFile, err)
	}
	if len(m.Plugin) == 0 {
		return fmt.Errorf("%s: names no [[plugin]]: nothing to bundle", manifestFile)
	}
	files := map[string][]byte{}
	var doc map[string]any
	if _, err := toml.Decode(string(text), &doc); err != nil {
		return fmt.Errorf("%s: %w", manifestFile, err)
	}
	plugins, _ := doc["plugin"].([]map[string]any)
	for i, p := range m.Plugin {
		srcs, ok := modulePaths(p.Path)
		if !ok {
			return fmt.Errorf("%s: plugin %d: path must be a file or a list of files", manifestFile, i+1)
		}
		var names, sums []string
		for _, src := range srcs {
			if !filepath.IsAbs(src) {
				src = filepath.Join(filepath.Dir(manifestFile), src)
			}
			wasm, err := os.ReadFile(src)
			if err != nil {
				return fmt.Errorf("%s: plugin %d: %w (build it first)", manifestFile, i+1, err)
			}
			name := filepath.Base(src)
			if _, dup := files[name]; dup || name == ManifestName || name == SignatureName {
				return fmt.Errorf("%s: two modules, or a module and the bundle's own entries, share the file name %s", manifestFile, name)
			}
			files[name] = wasm
			sum := sha256.Sum256(wasm)
			names = append(names, name)
			sums = append(sums, hex.EncodeToString(sum[:]))
		}
		if len(names) == 1 {
			plugins[i]["path"], plugins[i]["sha256"] = names[0], sums[0]
		} else {
			plugins[i]["path"], plugins[i]["sha256"] = names, sums
		}
	}
	var mb bytes.Buffer
	fmt.Fprintf(&mb, "# Bundled from %s; paths are relative to the bundle.\n", filepath.Base(manifestFile))
	if err := toml.NewEncoder(&mb).Encode(doc); err != nil {
		return err
	}
	files[ManifestName] = mb.Bytes()
	sig := signature{KeyID: KeyID(key.Public().(ed25519.PublicKey)), Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, listing(files)))}
	sb, _ := json.MarshalIndent(sig, "", "  ")
	zw := zip.NewWriter(w)
	names := sortedNames(files)
	for _, n := range append(names, SignatureName) {
		body := files[n]
		if n == SignatureName {
			body = append(sb, '\n')
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			return err
		}
		if _, err := fw.Write(body); err != nil {
			return err
		}
	}
	return zw.Close()
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// listing is what the signature covers.
func listing(files map[string][]byte) []byte {
	var b bytes.Buffer
	for _, n := range sortedNames(files) {
		sum := sha256.Sum256(files[n])
		fmt.Fprintf(&b, "%x  %s\n", sum, n)
	}
	return b.Bytes()
}

// Bundle is a verified bundle's content.
type Bundle struct {
	// Path is the bundle file.
	Path string
	// KeyID names the key that signed it.
	KeyID string
	// Digest is the sha256 of its signed listing, hex.
	Digest string
	files  map[string][]byte
}

// Open reads the bundle at file and verifies it against keys; any problem
// is an error naming the file and what to do.
func Open(file string, keys []ed25519.PublicKey) (*Bundle, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("bundle %s: %s", file, fmt.Sprintf(format, args...))
	}
	if len(keys) == 0 {
		return nil, fail("no trusted bundle key is configured (--bundle-key or TASKHOST_BUNDLE_KEYS); a bundle is loaded only when its signature checks")
	}
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fail("not a bundle (%v)", err)
	}
	defer zr.Close()
	return read(file, &zr.Reader, keys)
}

// OpenBytes is Open for a bundle held in memory (one embedded in the
// binary, say); name labels it in errors.
func OpenBytes(name string, data []byte, keys []ed25519.PublicKey) (*Bundle, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("bundle %s: no trusted bundle key is configured", name)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: not a bundle (%v)", name, err)
	}
	return read(name, zr, keys)
}

func read(file string, zr *zip.Reader, keys []ed25519.PublicKey) (*Bundle, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("bundle %s: %s", file, fmt.Sprintf(format, args...))
	}
	files := map[string][]byte{}
	var sigText []byte
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if f.Name != path.Base(f.Name) {
			return nil, fail("entry %q is in a folder; bundles are flat", f.Name)
		}
		if _, dup := files[f.Name]; dup {
			return nil, fail("entry %q appears twice", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fail("entry %s: %v", f.Name, err)
		}
		body, err := io.ReadAll(io.LimitReader(rc, maxFile+1))
		rc.Close()
		if err != nil {
			return nil, fail("entry %s: %v", f.Name, err)
		}
		if len(body) > maxFile {
			return nil, fail("entry %s is larger than %d bytes", f.Name, maxFile)
		}
		if f.Name == SignatureName {
			sigText = body
			continue
		}
		files[f.Name] = body
	}
	if sigText == nil {
		return nil, fail("unsigned (no %s entry); sign it with host bundle build --key", SignatureName)
	}
	if _, ok := files[ManifestName]; !ok {
		return nil, fail("has no %s", ManifestName)
	}
	var sig signature
	if err := json.Unmarshal(sigText, &sig); err != nil {
		return nil, fail("%s is not valid: %v", SignatureName, err)
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil {
		return nil, fail("%s is not valid: %v", SignatureName, err)
	}
	list := listing(files)
	for _, k := range keys {
		if ed25519.Verify(k, list, raw) {
			sum := sha256.Sum256(list)
			return &Bundle{Path: file, KeyID: KeyID(k), Digest: hex.EncodeToString(sum[:]), files: files}, nil
		}
	}
	known := make([]string, len(keys))
	for i, k := range keys {
		known[i] = KeyID(k)
	}
	return nil, fail("the signature does not check against any trusted key (signed by key %s; trusted: %s): the bundle was changed after signing, or is signed by a key this host does not trust",
		sig.KeyID, strings.Join(known, ", "))
}

// Files lists the bundle's entries other than SIGNATURE.
func (b *Bundle) Files() []string { return sortedNames(b.files) }

// Extract writes the bundle's files into a new folder under dir named by
// its digest, and returns the path of its manifest there.
func (b *Bundle) Extract(dir string) (string, error) {
	out := filepath.Join(dir, b.Digest)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("bundle %s: %w", b.Path, err)
	}
	for n, body := range b.files {
		if err := os.WriteFile(filepath.Join(out, n), body, 0o644); err != nil {
			return "", fmt.Errorf("bundle %s: %w", b.Path, err)
		}
	}
	return filepath.Join(out, ManifestName), nil
}
