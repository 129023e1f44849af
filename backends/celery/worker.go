package celery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// worker is one Work call.
type worker struct {
	b       *backend
	h       driver.Handler
	queues  []string
	weights map[string]int
	name    string
	node    string // the worker's Celery node name, name@host
	// orders holds the keys of popScript (unacked, unacked_index, the dead
	// list, then the lists to take from) in each order the worker takes
	// its queues in: one when strict, one per turn of the queues when
	// unweighted; nil when weighted (a new draw each time).
	orders [][]string

	slots  chan struct{}
	stop   context.Context // Work's: ends when the worker is to stop taking tasks
	runCtx context.Context // cancelled when the grace period ends
	wg     sync.WaitGroup

	attempts attempts // deliveries held or running, by task id, for revokes

	mu       sync.Mutex
	inflight map[string]bool // tags taken and not yet acknowledged or put back
	round    int
}

// Work implements driver.Driver: it takes tasks from cfg.Queues (kombu
// lists, with their priority lists) until ctx ends, at most
// cfg.Concurrency at a time over all of them, runs them and stores their
// results; see the package documentation. Once ctx ends it takes nothing
// more from any queue, and running tasks have cfg.Grace to finish.
func (b *backend) Work(ctx context.Context, cfg driver.WorkerConfig, h driver.Handler) error {
	w := &worker{b: b, h: h, queues: slices.Sorted(slices.Values(cfg.Queues)), weights: cfg.Priorities,
		name: cfg.Name, node: nodeName(cfg.Name), inflight: map[string]bool{}, slots: make(chan struct{}, cfg.Concurrency),
		attempts: attempts{by: map[string]map[*attempt]struct{}{}}}
	switch {
	case cfg.StrictPriority:
		qs := slices.Clone(w.queues)
		sort.SliceStable(qs, func(i, j int) bool { return w.weight(qs[i]) > w.weight(qs[j]) })
		w.orders = [][]string{popKeys(qs)}
	case len(w.weights) == 0:
		for r := range w.queues {
			w.orders = append(w.orders, popKeys(append(slices.Clone(w.queues[r:]), w.queues[:r]...)))
		}
	}
	runCtx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuns()
	w.runCtx, w.stop = runCtx, ctx

	p := b.broker.Pipeline()
	for _, q := range w.queues {
		p.SAdd(ctx, bindingKey(q), bindingMember(q))
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("celery: declaring queues %s: %w", strings.Join(w.queues, ", "), err)
	}

	// Subscribed to Celery's control broadcasts before the first take, so
	// that a revoke sent after a task was taken reaches this worker.
	ps := b.broker.Subscribe(ctx, b.control)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("celery: subscribing to Celery's control channel %s: %w", b.control, err)
	}

	maintained, stopMaintain := make(chan struct{}), make(chan struct{})
	go func() { defer close(maintained); w.maintain(ctx, stopMaintain) }()
	controlled := make(chan struct{})
	go func() { defer close(controlled); w.control(ps, stopMaintain) }()
	beaten := make(chan struct{})
	go func() { defer close(beaten); b.beat(ctx, cfg) }()
	w.fetch(ctx)

	// Drain: running tasks have the grace period; then they are cancelled
	// and their messages put back at once.
	drained := make(chan struct{})
	go func() { w.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(cfg.Grace):
		stopRuns()
		<-drained
	}
	close(stopMaintain)
	<-maintained
	<-controlled
	<-beaten
	return nil
}

// nodeName is a worker's Celery node name: its name, with @host unless it
// has one, as a Python worker's celery@host.
func nodeName(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// popKeys returns popScript's keys for taking from queues in that order,
// as kombu takes them: every queue's priority 0 list, then 3, 6, 9.
func popKeys(queues []string) []string {
	out := make([]string, 0, 3+4*len(queues))
	out = append(out, unackedKey, unackedIndexKey, deadList)
	for step := range 4 {
		for _, q := range queues {
			out = append(out, priorityLists(q)[step])
		}
	}
	return out
}

// keys returns popScript's keys for the next take: the queues strictly by
// weight, by a weighted draw, or in turn.
func (w *worker) keys() []string {
	switch {
	case len(w.orders) == 1:
		return w.orders[0]
	case len(w.orders) > 1:
		w.round++
		return w.orders[w.round%len(w.orders)]
	}
	qs := slices.Clone(w.queues)
	key := make(map[string]float64, len(qs))
	for _, q := range qs {
		key[q] = math.Pow(rand.Float64(), 1/float64(w.weight(q))) // weighted random order
	}
	sort.Slice(qs, func(i, j int) bool { return key[qs[i]] > key[qs[j]] })
	return popKeys(qs)
}

func (w *worker) weight(q string) int {
	if wt := w.weights[q]; wt > 0 {
		return wt
	}
	return 1
}

func unixNow() string { return fmt.Sprintf("%.6f", float64(time.Now().UnixMicro())/1e6) }

// fetch takes messages while there are free slots, until ctx ends: a
// script that takes and tracks in one step when messages wait, else a
// blocking BRPOP (one second at a time, as kombu) whose message is then
// tracked. Nothing is taken once ctx has ended: a message that a BRPOP
// begun before returns is put back where it was.
func (w *worker) fetch(ctx context.Context) {
	rc := w.b.broker
	for {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
		for n < 16 {
			select {
			case w.slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		if ctx.Err() != nil {
			w.release(n)
			return
		}
		// Not cancelled midway: a reply lost to a cancellation would leave
		// the messages it took unacknowledged until the visibility timeout.
		keys := w.keys()
		res, err := popScript.Run(context.WithoutCancel(ctx), rc, keys, unixNow(), n).StringSlice()
		if err != nil && !errors.Is(err, redis.Nil) {
			w.release(n)
			if ctx.Err() != nil {
				return
			}
			w.b.logger.Error("celery: taking messages failed; retrying in a second", "err", err)
			driver.Pause(ctx, time.Second, nil)
			continue
		}
		if len(res) == 0 {
			if res = w.wait(ctx, keys[3:]); res == nil {
				w.release(n)
				continue
			}
		}
		for i := 0; i+1 < len(res); i += 2 {
			if res[i] == "" {
				w.b.logger.Error("celery: a message that is not a kombu JSON message with a delivery tag was moved to "+deadList, "message", clip(res[i+1]))
				continue
			}
			w.wg.Add(1)
			n--
			go w.handle(res[i], res[i+1])
		}
		w.release(n)
	}
}

// wait blocks for a message on lists, a second at most, and tracks it;
// it returns the list and the message ("" for a dead one), or nil. The
// BRPOP outlives ctx by at most its second: a message it takes once ctx
// has ended goes back to the end of its list that it came from.
func (w *worker) wait(ctx context.Context, lists []string) []string {
	rc, bg := w.b.broker, context.WithoutCancel(ctx)
	kv, err := rc.BRPop(bg, time.Second, lists...).Result()
	if err != nil {
		if !errors.Is(err, redis.Nil) && ctx.Err() == nil {
			w.b.logger.Error("celery: waiting for messages failed; retrying in a second", "err", err)
			driver.Pause(ctx, time.Second, nil)
		}
		return nil
	}
	if ctx.Err() != nil {
		if err := rc.RPush(bg, kv[0], kv[1]).Err(); err != nil {
			w.b.logger.Error("celery: putting back a message taken as the worker stopped failed", "list", kv[0], "message", clip(kv[1]), "err", err)
		}
		return nil
	}
	ok, err := trackScript.Run(bg, rc, []string{unackedKey, unackedIndexKey, deadList}, kv[0], kv[1], unixNow()).Int()
	if err != nil {
		// Not tracked: push it back rather than lose it.
		rc.RPush(bg, kv[0], kv[1])
		w.b.logger.Error("celery: recording a taken message failed; it was put back", "err", err)
		driver.Pause(ctx, time.Second, nil)
		return nil
	}
	if ok == 0 {
		return []string{"", kv[1]}
	}
	return kv
}

func (w *worker) release(n int) {
	for range n {
		<-w.slots
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
