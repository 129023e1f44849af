//go:build embedbundle

package main

import _ "embed"

// A host built with -tags embedbundle (make build-enterprise) carries the
// enterprise bundle and the public key it was signed with; it loads the
// bundle at every start, verified like any other.

//go:embed embedded.tbundle
var embeddedBundle []byte

//go:embed embedded.pub
var embeddedKey []byte

func init() { embedded = &embeddedFiles{bundle: embeddedBundle, key: embeddedKey} }
