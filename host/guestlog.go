package host

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
)

// A plugin's log lines (its Extism log calls, and each line it writes to
// stdout or stderr) go to the host's logger with the task's attributes,
// within a budget per attempt (Limits.MaxLogBytes and MaxLogLines): a task
// that floods its log costs the worker at most the budget, and the worker's
// own log lines are never dropped.

// logBudget counts what one attempt logs. Once a line does not fit, that
// line and every later one of the attempt are dropped and counted.
type logBudget struct {
	bytes, lines   int
	dropped        int // lines
	droppedBytes   int
	overWhat       string // the limit passed: "max_log_bytes 1MiB"
	maxBytes, maxN int
}

func (b *logBudget) reset(l Limits) {
	*b = logBudget{maxBytes: int(l.MaxLogBytes), maxN: l.MaxLogLines}
}

// take reports whether a line of n bytes may be logged.
func (b *logBudget) take(n int) bool {
	if b.dropped == 0 {
		switch {
		case b.lines >= b.maxN:
			b.overWhat = fmt.Sprintf("max_log_lines %d", b.maxN)
		case b.bytes+n > b.maxBytes:
			b.overWhat = "max_log_bytes " + ByteSize(b.maxBytes).String()
		default:
			b.lines++
			b.bytes += n
			return true
		}
	}
	b.dropped++
	b.droppedBytes += n
	return false
}

// logAttrs are the attributes of the plugin's log lines.
func (inst *instance) logAttrs(extra ...slog.Attr) []slog.Attr {
	name := ""
	if inst.task != nil {
		name = inst.task.Name
	}
	return append([]slog.Attr{slog.String("task", name), slog.String("task_id", inst.inv.ID),
		slog.String("plugin", inst.p.Name), slog.Int("attempt", inst.inv.Attempt)}, extra...)
}

// emit logs one of the plugin's lines, within the attempt's budget.
func (inst *instance) emit(ctx context.Context, level slog.Level, msg string, extra ...slog.Attr) {
	if !inst.p.logger.Enabled(ctx, level) || !inst.logs.take(len(msg)) {
		return
	}
	inst.p.logger.LogAttrs(ctx, level, msg, inst.logAttrs(extra...)...)
}

// log receives the plugin's Extism log calls.
func (inst *instance) log(_ context.Context, level slog.Level, msg string) {
	inst.emit(inst.cc.Parent(), level, msg)
}

// endLogs ends the attempt's log: the lines the guest left unfinished on
// stdout and stderr, then what the budget dropped.
func (inst *instance) endLogs(ctx context.Context) {
	inst.stdout.flush(ctx)
	inst.stderr.flush(ctx)
	if b := &inst.logs; b.dropped > 0 {
		inst.p.logger.LogAttrs(ctx, slog.LevelWarn,
			fmt.Sprintf("plugin logs: dropped %d lines, %d bytes over %s", b.dropped, b.droppedBytes, b.overWhat),
			inst.logAttrs()...)
	}
}

// maxLogLine is the longest line of a guest's stdout or stderr that is
// logged as one; a longer one is split.
const maxLogLine = 16 << 10

// guestStream is a guest's stdout or stderr: each line written to it is a
// log line of the task at info, with a stream attribute. Blank lines are
// skipped. What it writes also goes to the instance's diagnostics (the
// start of a panic's message, say), and a command's stdout may be its
// output instead (Task.stdoutOut).
type guestStream struct {
	inst *instance
	name string
	line []byte // the line being written
}

func (s *guestStream) Write(p []byte) (int, error) {
	inst := s.inst
	if s.name == "stdout" && inst.task != nil && inst.task.stdoutOut {
		return inst.cmdOut.Write(p)
	}
	inst.diag.Write(p)
	n := len(p)
	ctx := inst.cc.Parent()
	for len(p) > 0 {
		room := maxLogLine - len(s.line)
		i := bytes.IndexByte(p[:min(len(p), room)], '\n')
		switch {
		case i >= 0:
			s.line = append(s.line, p[:i]...)
			p = p[i+1:]
			s.flush(ctx)
		case len(p) < room:
			s.line = append(s.line, p...)
			p = nil
		default:
			s.line = append(s.line, p[:room]...)
			p = p[room:]
			s.flush(ctx)
		}
	}
	return n, nil
}

// flush logs the line being written, if it is not blank.
func (s *guestStream) flush(ctx context.Context) {
	line := bytes.TrimRight(s.line, "\r")
	if len(bytes.TrimSpace(line)) > 0 {
		s.inst.emit(ctx, slog.LevelInfo, string(line), slog.String("stream", s.name))
	}
	s.line = s.line[:0]
}

// commandOutput keeps what a command writes to stdout when that is its
// output, up to max_output; what passes it is counted, not kept.
type commandOutput struct {
	buf  []byte
	max  int
	over int64
}

func (o *commandOutput) reset(max int) {
	o.buf, o.max, o.over = o.buf[:0], max, 0
}

func (o *commandOutput) Write(p []byte) (int, error) {
	n := len(p)
	if room := o.max - len(o.buf); len(p) > room {
		o.over += int64(len(p) - room)
		p = p[:room]
	}
	o.buf = append(o.buf, p...)
	return n, nil
}
