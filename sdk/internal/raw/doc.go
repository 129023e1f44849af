// Package raw holds the guest's raw imports of the taskhost host module
// (abi.HostModule); only the sdk package uses it.
package raw
