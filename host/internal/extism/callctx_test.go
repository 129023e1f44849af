package extism

import (
	"context"
	"errors"
	"testing"
)

type testEnv struct{ st State }

func (e *testEnv) ExtismState() *State { return &e.st }

// TestCallContextLateCancelSparesNextCall forces the interleaving in which a
// call's parent is done just as the call ends: the cancellation has started
// on its own goroutine but not yet run when End returns and the next call
// begins. It must not cancel the next call, and (run with -race) must read
// nothing the next call writes.
func TestCallContextLateCancelSparesNextCall(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	finished := make(chan struct{})
	testHookParentDone = func(cancel func()) {
		close(started)
		<-release
		cancel()
		close(finished)
	}
	t.Cleanup(func() { testHookParentDone = nil })

	cc := NewCallContext(&testEnv{})
	first, cancelFirst := context.WithCancel(context.Background())
	cc.Begin(first, true)
	cancelFirst()
	<-started // the first call's cancellation runs, held by the hook
	cc.End()
	if err := cc.Err(); err != nil {
		t.Fatalf("after the first call: Err() = %v, want nil (it ended before its cancellation ran)", err)
	}

	second, cancelSecond := context.WithCancel(context.WithValue(context.Background(), testKey{}, "second"))
	defer cancelSecond()
	cc.Begin(second, true)
	close(release)
	<-finished
	if err := cc.Err(); err != nil {
		t.Errorf("the second call: Err() = %v, want nil: the first call's late cancellation reached it", err)
	}
	select {
	case <-cc.Done():
		t.Error("the second call's Done closed: the first call's late cancellation reached it")
	default:
	}
	if got := cc.Value(testKey{}); got != "second" {
		t.Errorf("Value = %v, want the second call's", got)
	}
	cc.End()
}

// TestCallContextParentCancels checks that a linked parent's cancellation
// ends its own call, with the parent's cause.
func TestCallContextParentCancels(t *testing.T) {
	cc := NewCallContext(&testEnv{})
	cause := errors.New("shutting down")
	parent, cancel := context.WithCancelCause(context.Background())
	cc.Begin(parent, true)
	cancel(cause)
	<-cc.Done()
	cc.End()
	if err := cc.Err(); !errors.Is(err, cause) {
		t.Errorf("Err() = %v, want %v", err, cause)
	}
}

// TestCallContextWatchLinksOnce checks that an unwatched call is linked to
// its parent by Watch, and that a call whose parent is already done does
// not go on.
func TestCallContextWatchLinksOnce(t *testing.T) {
	cc := NewCallContext(&testEnv{})
	parent, cancel := context.WithCancel(context.Background())
	cc.Begin(parent, false)
	if !cc.Watch() {
		t.Fatal("Watch() = false for a live parent")
	}
	cancel()
	<-cc.Done() // linked by Watch: the cancellation closes Done on its own
	if cc.Watch() {
		t.Error("Watch() = true after the parent was canceled")
	}
	cc.End()
	if !errors.Is(cc.Err(), context.Canceled) {
		t.Errorf("Err() = %v, want context.Canceled", cc.Err())
	}
}

type testKey struct{}
