package host

import (
	"fmt"
	"runtime"
	"time"
)

// Isolation says how a plugin's tasks get their instances.
type Isolation string

// The isolation modes.
const (
	// IsolationPooled runs tasks in warm instances that are reused, up to
	// Limits.MaxUses calls each. It is the default.
	IsolationPooled Isolation = "pooled"
	// IsolationFresh runs every task in a new instance that is closed after
	// the call, so no state survives between tasks.
	IsolationFresh Isolation = "fresh"
)

// Limits are the sandbox limits of one plugin. The zero value of a field
// means "the default" (see DefaultLimits); a Limits value is copied, never
// shared, so it is safe to read from many goroutines.
type Limits struct {
	// MaxMemory caps the plugin's linear memory and, separately, its Extism
	// memory (input, output, host data). Default 128MiB.
	MaxMemory ByteSize `toml:"max_memory"`
	// Timeout is the default per-task timeout. Default 60s.
	Timeout Duration `toml:"timeout"`
	// MaxOutput caps a task's output. Default 16MiB.
	MaxOutput ByteSize `toml:"max_output"`
	// MaxHTTPResponse caps one HTTP response body. Default 16MiB.
	MaxHTTPResponse ByteSize `toml:"max_http_response"`
	// PoolSize is the most instances that run at once. Default GOMAXPROCS,
	// at least 2, or the host's Config.Concurrency when that is more.
	PoolSize int `toml:"pool_size"`
	// Isolation is "pooled" (default) or "fresh".
	Isolation Isolation `toml:"isolation"`
	// MaxUses recycles a pooled instance after this many calls. Default 10000.
	MaxUses int `toml:"max_uses"`
	// MaxLogBytes caps what one attempt of a task may log: the message bytes
	// of its Extism log calls and of the lines it writes to stdout and
	// stderr. Past it (or past MaxLogLines) the attempt's further lines are
	// dropped, and one closing line says how many. Default 1MiB.
	MaxLogBytes ByteSize `toml:"max_log_bytes"`
	// MaxLogLines caps the number of lines one attempt may log. Default
	// 10000.
	MaxLogLines int `toml:"max_log_lines"`
	// IdleTimeout closes a pooled instance that has waited this long for a
	// call, giving its memory back; the pool fills again on demand.
	// Default 1m.
	IdleTimeout Duration `toml:"idle_timeout"`
}

// maxPoolSize bounds a plugin's pool.
const maxPoolSize = 1024

// DefaultLimits returns the limits used where neither the plugin nor the
// manifest's [defaults.limits] set a value.
func DefaultLimits() Limits {
	return Limits{
		MaxMemory:       128 << 20,
		Timeout:         Duration(60 * time.Second),
		MaxOutput:       16 << 20,
		MaxHTTPResponse: 16 << 20,
		PoolSize:        max(2, runtime.GOMAXPROCS(0)),
		Isolation:       IsolationPooled,
		MaxUses:         10000,
		MaxLogBytes:     1 << 20,
		MaxLogLines:     10000,
		IdleTimeout:     Duration(time.Minute),
	}
}

// withDefaults returns l with every zero field taken from d.
func (l Limits) withDefaults(d Limits) Limits {
	if l.MaxMemory == 0 {
		l.MaxMemory = d.MaxMemory
	}
	if l.Timeout == 0 {
		l.Timeout = d.Timeout
	}
	if l.MaxOutput == 0 {
		l.MaxOutput = d.MaxOutput
	}
	if l.MaxHTTPResponse == 0 {
		l.MaxHTTPResponse = d.MaxHTTPResponse
	}
	if l.PoolSize == 0 {
		l.PoolSize = d.PoolSize
	}
	if l.Isolation == "" {
		l.Isolation = d.Isolation
	}
	if l.MaxUses == 0 {
		l.MaxUses = d.MaxUses
	}
	if l.MaxLogBytes == 0 {
		l.MaxLogBytes = d.MaxLogBytes
	}
	if l.MaxLogLines == 0 {
		l.MaxLogLines = d.MaxLogLines
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	return l
}

// validate checks l after defaults are applied.
func (l Limits) validate() error {
	_, err := l.check()
	return err
}

// check is validate, naming the key at fault.
func (l Limits) check() (key string, err error) {
	switch {
	case l.MaxMemory < 1<<20:
		return "max_memory", fmt.Errorf("limits.max_memory %s is below the 1MiB minimum", l.MaxMemory)
	case l.MaxMemory > 4<<30:
		return "max_memory", fmt.Errorf("limits.max_memory %s is above the 4GiB a 32-bit module can address", l.MaxMemory)
	case l.PoolSize < 0 || l.PoolSize > maxPoolSize:
		return "pool_size", fmt.Errorf("limits.pool_size %d is outside 1..%d", l.PoolSize, maxPoolSize)
	case l.MaxUses < 0:
		return "max_uses", fmt.Errorf("limits.max_uses %d is negative", l.MaxUses)
	case l.MaxLogLines < 0:
		return "max_log_lines", fmt.Errorf("limits.max_log_lines %d is negative", l.MaxLogLines)
	case l.IdleTimeout < 0:
		return "idle_timeout", fmt.Errorf("limits.idle_timeout %s is negative", l.IdleTimeout)
	case l.Isolation != IsolationPooled && l.Isolation != IsolationFresh:
		return "isolation", fmt.Errorf("limits.isolation %q is not \"pooled\" or \"fresh\"", l.Isolation)
	}
	return "", nil
}

// memoryPages is MaxMemory in 64 KiB WebAssembly pages.
func (l Limits) memoryPages() uint32 { return uint32(l.MaxMemory / (64 << 10)) }
