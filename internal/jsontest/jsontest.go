// Package jsontest compares JSON documents in tests.
package jsontest

import "encoding/json"

// Equal reports whether got and want are the same JSON value, whatever
// their formatting and key order (PostgreSQL's jsonb, for one, reformats).
func Equal(got []byte, want string) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}
