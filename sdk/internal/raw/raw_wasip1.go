package raw

import (
	"github.com/extism/go-pdk"

	"taskhost.dev/abi"
)

var _ = abi.HostModule // the module name below must match abi.HostModule

//go:wasmimport taskhost:host progress
func progress(offset uint64)

//go:wasmimport taskhost:host task_info
func taskInfo() uint64

// Progress sends a progress document (or nil for a heartbeat) to the host.
func Progress(doc []byte) {
	if len(doc) == 0 {
		progress(0)
		return
	}
	mem := pdk.AllocateBytes(doc)
	progress(mem.Offset())
}

// TaskInfo returns the running task's abi.TaskInfo document.
func TaskInfo() []byte {
	off := taskInfo()
	if off == 0 {
		return nil
	}
	mem := pdk.FindMemory(off)
	return mem.ReadBytes()
}
