package host

import (
	"io/fs"
	"testing/fstest"

	"github.com/tetratelabs/wazero"
)

// fsConfig gives an instance its file system: the allowed paths, read-only,
// and under them a root that refuses every open and records the attempt, so
// that a failed task can be reported as a sandbox violation.
func (p *Plugin) fsConfig(inst *instance) wazero.FSConfig {
	cfg := wazero.NewFSConfig().WithFSMount(denyFS{inst}, "/")
	for _, m := range p.mounts {
		cfg = cfg.WithReadOnlyDirMount(m.host, m.guest)
	}
	return cfg
}

// denyFS is the root of a guest's file system outside its allowed paths.
type denyFS struct{ inst *instance }

var emptyDir = fstest.MapFS{}

func (d denyFS) Open(name string) (fs.File, error) {
	if name == "." {
		return emptyDir.Open(".")
	}
	if d.inst.fsViolation == "" {
		d.inst.fsViolation = "access to /" + name + " denied: the path is not under the plugin's allowed_paths"
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}
