package river

import "encoding/json"

// TimeoutRoundTrip reads a job's timeout as its args hold it and writes it
// back, for tests.
func TimeoutRoundTrip(in string) (string, error) {
	var d duration
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		return "", err
	}
	b, err := json.Marshal(d)
	return string(b), err
}
