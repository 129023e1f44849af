package extism

import (
	"context"
	"sync"
	"time"
)

// CallContext is the context of calls into one instance. It is made once
// per instance and reused for every call, so a call allocates no context of
// its own: Done closes when the call's timeout fires or its caller gives up,
// which stops the guest (a metered guest at its next yield; otherwise
// wazero, whose runtime is then built with WithCloseOnContextDone). Once
// Done has closed the instance must be discarded. One call at a time.
//
// Calls are numbered: the watch that links a call to its parent carries
// the call's number, and End moves to the next, so a parent that is done
// just as its call ends, and whose cancellation runs late on another
// goroutine, cannot touch the next call on the instance.
type CallContext struct {
	parent context.Context // written by Begin, read by the calling goroutine
	env    Env
	state  *State
	done   chan struct{}

	mu   sync.Mutex
	err  error
	call uint64 // number of the current call

	stopParent func() bool
}

// testHookParentDone, when set by a test, wraps the cancellation that runs
// when a linked parent is done, so that a test can hold it after it started.
var testHookParentDone func(cancel func())

// NewCallContext returns a call context for the instance env.
func NewCallContext(env Env) *CallContext {
	return &CallContext{parent: context.Background(), env: env, state: env.ExtismState(), done: make(chan struct{})}
}

// Begin starts a call made on behalf of parent, which must end by the
// State's Deadline (set by BeginCall); values are looked up in parent.
// With watch, Done closes as soon as parent is done (and the caller arms a
// timer for the deadline). Without, nothing watches parent or the deadline
// until Watch is called: by the meter's yield, which a metered guest calls
// every few tens of microseconds of guest code, and by host functions
// before they block. That spares a short call the cost of linking its
// context to its parent's and of a timer. End must follow.
func (c *CallContext) Begin(parent context.Context, watch bool) {
	c.parent = parent
	if watch {
		c.link()
	}
}

// Watch ends the call (Cancel) if its parent is done or its deadline has
// passed, links Done to the parent for the rest of the call, and reports
// whether the call goes on. Only the goroutine making the call (a host
// function, or the meter's yield) calls it.
func (c *CallContext) Watch() bool {
	if err := context.Cause(c.parent); err != nil {
		c.Cancel(err)
	} else if d := c.state.Deadline; !d.IsZero() && !time.Now().Before(d) {
		c.Cancel(context.DeadlineExceeded)
	} else {
		c.link()
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// link makes Done close when the parent is done, once per call. The
// cancellation names its call and its parent, and reads nothing that the
// next call changes.
func (c *CallContext) link() {
	if c.stopParent != nil || c.parent.Done() == nil {
		return
	}
	parent, call := c.parent, c.call
	c.stopParent = context.AfterFunc(parent, func() {
		cancel := func() { c.cancel(call, context.Cause(parent)) }
		if testHookParentDone != nil {
			testHookParentDone(cancel)
			return
		}
		cancel()
	})
}

// End finishes the call that Begin started. A cancellation of this call
// that has not happened yet never will.
func (c *CallContext) End() {
	if c.stopParent != nil {
		c.stopParent()
		c.stopParent = nil
	}
	c.mu.Lock()
	c.call++
	c.mu.Unlock()
	c.parent = context.Background()
}

// Cancel ends the current call with err (context.DeadlineExceeded for a
// timeout). Safe from any goroutine; only the first Cancel counts. Between
// calls it marks the instance done, so a caller that may cancel late (a
// timer) must discard the instance when it did.
func (c *CallContext) Cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelLocked(err)
}

// cancel ends call number call, unless it has ended.
func (c *CallContext) cancel(call uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if call == c.call {
		c.cancelLocked(err)
	}
}

func (c *CallContext) cancelLocked(err error) {
	if c.err != nil {
		return
	}
	if err == nil {
		err = context.Canceled
	}
	c.err = err
	close(c.done)
}

// Parent returns the context of the current call's caller.
func (c *CallContext) Parent() context.Context { return c.parent }

// Deadline implements context.Context; calls have no deadline of their own
// here, the host's timer cancels them.
func (c *CallContext) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context.
func (c *CallContext) Done() <-chan struct{} { return c.done }

// Err implements context.Context.
func (c *CallContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value implements context.Context: the instance's Env, or the caller's
// values.
func (c *CallContext) Value(key any) any {
	if key == (ctxKey{}) {
		return c.env
	}
	return c.parent.Value(key)
}
