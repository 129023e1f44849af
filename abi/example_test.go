package abi_test

import (
	"fmt"

	"taskhost.dev/abi"
)

// A plugin's error text decodes to a kind and a retryable flag; plain text
// is a retryable failure.
func ExampleDecodeError() {
	no := false
	e := abi.DecodeError(abi.EncodeError(abi.Error{Message: "bad date", Kind: abi.KindBadInput, Retryable: &no}))
	fmt.Println(e.Kind, *e.Retryable, e.Message)
	e = abi.DecodeError([]byte("connection reset"))
	fmt.Println(e.Kind, *e.Retryable, e.Message)
	// Output:
	// bad_input false bad date
	// failed true connection reset
}
