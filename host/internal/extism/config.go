package extism

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
)

var configFuncs = []hostFunc{
	{"config_get", []api.ValueType{i64}, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		v, ok := s.Config[string(s.read(st[0]))]
		if !ok {
			st[0] = 0
			return
		}
		st[0] = s.write([]byte(v))
	}},
	{"var_get", []api.ValueType{i64}, []api.ValueType{i64}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		v, ok := s.Vars[string(s.read(st[0]))]
		if !ok {
			st[0] = 0
			return
		}
		st[0] = s.write(v)
	}},
	{"var_set", []api.ValueType{i64, i64}, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		name := string(s.read(st[0]))
		if st[1] == 0 {
			delete(s.Vars, name)
			return
		}
		value := s.read(st[1])
		size := len(name) + len(value)
		for k, v := range s.Vars {
			if k != name {
				size += len(k) + len(v)
			}
		}
		if size > s.MaxVarBytes {
			s.fail(&Fault{Kind: abi.KindOOM, Msg: fmt.Sprintf("var_set %q: vars would hold %d bytes, over the limit of %d", name, size, s.MaxVarBytes)})
		}
		if s.Vars == nil {
			s.Vars = make(map[string][]byte)
		}
		s.Vars[name] = append([]byte(nil), value...)
	}},
}

// Extism's log levels as get_log_level reports them.
const (
	extismTrace = 0
	extismDebug = 1
	extismInfo  = 2
	extismWarn  = 3
	extismError = 4
)

// slogTrace is the slog level that Extism's trace level maps to.
const slogTrace = slog.LevelDebug - 4

func logFunc(name string, level slog.Level) hostFunc {
	return hostFunc{name, []api.ValueType{i64}, nil, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		if s.Log != nil && level >= s.LogLevel {
			s.Log(ctx, level, string(s.read(st[0])))
		}
		s.Mem.Free(st[0])
	}}
}

var logFuncs = []hostFunc{
	logFunc("log_trace", slogTrace),
	logFunc("log_debug", slog.LevelDebug),
	logFunc("log_info", slog.LevelInfo),
	logFunc("log_warn", slog.LevelWarn),
	logFunc("log_error", slog.LevelError),
	{"get_log_level", nil, []api.ValueType{i32}, func(ctx context.Context, _ api.Module, st []uint64) {
		s := stateOf(ctx)
		var l uint32
		switch {
		case s.Log == nil:
			l = 1<<31 - 1
		case s.LogLevel <= slogTrace:
			l = extismTrace
		case s.LogLevel <= slog.LevelDebug:
			l = extismDebug
		case s.LogLevel <= slog.LevelInfo:
			l = extismInfo
		case s.LogLevel <= slog.LevelWarn:
			l = extismWarn
		default:
			l = extismError
		}
		st[0] = uint64(l)
	}},
}
