package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"taskhost.dev/abi"
	"taskhost.dev/host/internal/extism"
)

// instance is one instantiated module of a plugin (with the other modules
// of a multi-module plugin). It serves one call at a time; the pool hands
// it out.
type instance struct {
	p      *Plugin
	mod    api.Module   // the main module
	linked []api.Module // the other modules, in path order
	kernel api.Module   // the instance's Extism kernel
	st     extism.State
	cc     *extism.CallContext
	funcs  []api.Function // by Task.index, looked up once
	stack  [2]uint64      // params and results; hs_init takes two

	timer     *time.Timer
	uses      int
	idleSince time.Time // when it last went back to the pool
	broken    bool      // trapped, timed out, canceled, exited or ran a command: never reuse

	// Per call.
	task           *Task
	inv            Invocation
	fsViolation    string
	diag           limitedBuffer // the start of the guest's stderr and stdout, for error messages
	stdin          bytes.Reader  // a command's input
	stdout, stderr guestStream
	cmdOut         commandOutput // a command's stdout, when that is its output
	logs           logBudget
}

// ExtismState implements extism.Env.
func (inst *instance) ExtismState() *extism.State { return &inst.st }

func (inst *instance) timeout() { inst.cc.Cancel(context.DeadlineExceeded) }

// sleep is the guest's nanosleep: it returns early when the call ends, and
// at the call's deadline, which it enforces.
func (inst *instance) sleep(ns int64) {
	if !inst.cc.Watch() {
		return
	}
	d, late := time.Duration(ns), false
	if rem := time.Until(inst.st.Deadline); rem < d {
		d, late = max(rem, 0), true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		if late {
			inst.cc.Cancel(context.DeadlineExceeded)
		}
	case <-inst.cc.Done():
	}
}

func (inst *instance) close() {
	inst.timer.Stop()
	if inst.mod != nil {
		_ = inst.mod.Close(context.Background())
	}
	for _, m := range inst.linked {
		_ = m.Close(context.Background())
	}
	if inst.kernel != nil {
		_ = inst.kernel.Close(context.Background())
	}
}

// callRaw calls fn with input and returns the output, aliased into the
// instance's memory (valid until the next call), or a *TaskError. The call
// ends after timeout, or at ctx's deadline when that comes first.
func (inst *instance) callRaw(ctx context.Context, fn api.Function, fnName string, input []byte, timeout time.Duration) ([]byte, error) {
	start := time.Now()
	deadline, byCaller := start.Add(timeout), false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, timeout, byCaller = d, max(d.Sub(start), 0), true
	}
	if err := inst.st.BeginCall(input, deadline); err != nil {
		return nil, inst.fail(abi.KindBadInput, fmt.Sprintf("input of %d bytes does not fit the plugin's max_memory of %s", len(input), inst.p.Limits.MaxMemory), false, nil)
	}
	inst.fsViolation = ""
	inst.diag.Reset()
	inst.logs.reset(inst.p.Limits)
	command := inst.task != nil && inst.task.command
	if command {
		inst.stdin.Reset(input)
		inst.cmdOut.reset(int(inst.p.Limits.MaxOutput))
	} else {
		inst.stdin.Reset(nil)
	}
	// A metered guest's yield enforces the deadline and the caller's
	// cancellation (see CallContext.Begin); wazero's own checks, for a
	// module the meter could not rewrite, need the context done on time.
	watch := !inst.p.metered
	inst.cc.Begin(ctx, watch)
	if watch {
		inst.timer.Reset(timeout)
	}
	inst.stack = [2]uint64{}
	err := fn.CallWithStack(inst.cc, inst.stack[:])
	fired := watch && !inst.timer.Stop()
	inst.cc.End()
	inst.endLogs(ctx)
	// A command runs once per instance: it has exited, or returned from
	// its main, which runs no second time.
	if cerr := inst.cc.Err(); err != nil || fired || cerr != nil || command {
		inst.broken = true
	}
	if exit, ok := err.(*sys.ExitError); ok && exit.ExitCode() == 0 {
		// A WASI exit(0) ends the call as a success; wazero has closed
		// the module, so the instance goes.
		err = nil
	}
	if err != nil {
		return nil, inst.classify(err, fnName, timeout, byCaller)
	}
	rc := uint32(inst.stack[0])
	if fn.Definition().ResultTypes() == nil {
		rc = 0
	}
	if msg := inst.st.Mem.Error(); rc != 0 || msg != nil {
		e := abi.DecodeError(msg)
		if len(msg) == 0 {
			e.Message = fmt.Sprintf("function %s returned %d without an error message", fnName, rc)
		}
		if inst.fsViolation != "" {
			return nil, inst.fail(abi.KindSandbox, inst.fsViolation+": "+e.Message, false, nil)
		}
		return nil, inst.fail(e.Kind, e.Message, *e.Retryable, nil)
	}
	out, set := inst.st.Mem.Output()
	if command && inst.task.stdoutOut && !set {
		if o := &inst.cmdOut; o.over > 0 {
			return nil, inst.fail(abi.KindSandbox, fmt.Sprintf("stdout of %d bytes exceeds max_output of %s", int64(len(o.buf))+o.over, inst.p.Limits.MaxOutput), false, nil)
		}
		out = inst.cmdOut.buf
	}
	return out, nil
}

func (inst *instance) fail(kind abi.Kind, msg string, retryable bool, err error) *TaskError {
	te := &TaskError{Kind: kind, Plugin: inst.p.Name, Message: msg, Retryable: retryable, Err: err}
	if inst.task != nil {
		te.Task = inst.task.Name
	}
	return te
}

// classify turns a runtime error of a call into a TaskError. timeout is
// the one the call ran under, byCaller whether it came from its caller's
// deadline.
func (inst *instance) classify(err error, fnName string, timeout time.Duration, byCaller bool) *TaskError {
	if f := inst.st.Fault; f != nil {
		return inst.fail(f.Kind, f.Msg, f.Kind.Retryable(), err)
	}
	switch cerr := inst.cc.Err(); {
	case errors.Is(cerr, context.DeadlineExceeded):
		msg := fmt.Sprintf("stopped after its timeout of %s", timeout.Round(time.Millisecond))
		if byCaller {
			msg = fmt.Sprintf("stopped at its caller's deadline, %s after it started", timeout.Round(time.Millisecond))
		}
		return inst.fail(abi.KindTimeout, msg, true, err)
	case cerr != nil:
		return inst.fail(abi.KindCancelled, "canceled by the caller: "+cerr.Error(), true, err)
	}
	detail := firstLines(inst.diag.String(), 3)
	if inst.outOfMemory() {
		msg := fmt.Sprintf("ran out of its max_memory of %s", inst.p.Limits.MaxMemory)
		if detail != "" {
			msg += ": " + detail
		}
		return inst.fail(abi.KindOOM, msg, false, err)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		msg := fmt.Sprintf("exited with code %d during %s", exit.ExitCode(), fnName)
		if detail != "" {
			msg += ": " + detail
		}
		te := inst.fail(abi.KindFailed, msg, abi.KindFailed.Retryable(), err)
		te.ExitCode = int(exit.ExitCode())
		return te
	}
	msg := firstLines(err.Error(), 1)
	if detail != "" {
		msg = detail + " (" + msg + ")"
	}
	return inst.fail(abi.KindTrap, msg, false, err)
}

// outOfMemory reports whether the last failure looks like the guest ran out
// of memory: the runtime said so, or memory is close to the limit.
func (inst *instance) outOfMemory() bool {
	out := inst.diag.String()
	if strings.Contains(out, "out of memory") || strings.Contains(out, "memory allocation of") {
		return true
	}
	mem := inst.mod.Memory()
	if mem == nil {
		return false
	}
	limit := uint64(inst.p.Limits.MaxMemory)
	margin := min(uint64(4<<20), limit/8)
	return uint64(mem.Size())+margin >= limit
}

func firstLines(s string, n int) string {
	s = strings.TrimSpace(s)
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
		if len(lines) == n {
			break
		}
	}
	return strings.Join(lines, " | ")
}

// limitedBuffer keeps the first 8 KiB written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const limitedBufferSize = 8 << 10

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := limitedBufferSize - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *limitedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
