package host

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ByteSize is a size in bytes. In TOML it is an integer number of bytes or a
// string with a unit: "512KiB", "64MiB", "1GiB", "10MB", "1000B".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseByteSize parses a size such as "64MiB" or "1024".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	factor := int64(1)
	num := s
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			factor, num = u.factor, strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		return 0, fmt.Errorf("%q is not a size; write a whole number of bytes or one with a unit such as \"64MiB\"", s)
	}
	return ByteSize(n * factor), nil
}

// UnmarshalTOML reads an integer or a string with a unit.
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("size %d is negative", v)
		}
		*b = ByteSize(v)
		return nil
	case string:
		n, err := ParseByteSize(v)
		*b = n
		return err
	}
	return fmt.Errorf("a size must be an integer or a string such as \"64MiB\", not %T", v)
}

// String formats b with the largest binary unit that divides it.
func (b ByteSize) String() string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}

// Duration is a time.Duration written in TOML as a Go duration string such
// as "30s" or "1m30s".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration; write one such as \"30s\" or \"2m\"", text)
	}
	*d = Duration(v)
	return nil
}

// String formats d as a Go duration.
func (d Duration) String() string { return time.Duration(d).String() }
