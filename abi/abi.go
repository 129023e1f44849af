package abi

import (
	"strconv"
	"strings"
)

// Version is the newest taskhost ABI version that this package describes.
const Version = 1

// SupportedVersions lists every ABI version the host speaks, oldest first.
var SupportedVersions = [...]int{1}

// Supports reports whether the host speaks ABI version v.
func Supports(v int) bool {
	for _, s := range SupportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// SupportedVersionsString returns the supported versions for error messages,
// for example "1" or "1, 2".
func SupportedVersionsString() string {
	parts := make([]string, len(SupportedVersions))
	for i, v := range SupportedVersions {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

// Module and export names of the contract.
const (
	// ExtismModule is the import module of the Extism host ABI (input,
	// output, memory, config, vars, HTTP and log functions).
	ExtismModule = "extism:host/env"

	// HostModule is the import module of the taskhost's own host functions.
	HostModule = "taskhost:host"

	// MetaExport is the optional export, an Extism function () -> i32 whose
	// output is the module's Meta document as JSON.
	MetaExport = "taskhost_meta"
)

// Host functions of HostModule.
const (
	// FuncProgress is progress(offset i64): the Extism memory block at offset
	// holds a Progress document. Every call also counts as a heartbeat.
	FuncProgress = "progress"

	// FuncTaskInfo is task_info() -> i64: the offset of an Extism memory block
	// holding the running task's TaskInfo document.
	FuncTaskInfo = "task_info"
)
