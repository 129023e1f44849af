// Package redisschedule keeps schedules in Redis for the drivers whose
// engine has no scheduler that fires once per deployment (asynq, Celery):
// its Store implements driver.ScheduleStore, and the client's beat, which
// runs in every worker, fires each tick through FireTick.
//
// Keys, all under the caller's Prefix:
//
//	PREFIX+"defs"              hash: schedule name -> its definition (driver.Schedule as JSON)
//	PREFIX+"last"              hash: schedule name -> its last tick fired, "TIME ID" (TIME fixed-width UTC)
//	PREFIX+"tick:"+NAME+":"+NS string: the claim of the tick at NS (Unix ns): "" while its task is
//	                           being enqueued, then the task's id; it expires TickTTL after it was fired
//
// FireTick is three steps. It claims the tick (SET NX with an expiry of
// Lease, in a script that also checks the schedule still exists); a worker
// that finds the tick claimed fires nothing and reports the task id the
// claim holds. The winner enqueues the tick's job through the driver's
// Enqueue, with Job.ID set to TickID(name, tick); if that fails the claim
// is released, so that the next beat fires the tick again. Then one script
// stores the task id in the claim (kept TickTTL) and records the tick as
// the schedule's last run, unless a later one is recorded already.
//
// A worker that dies between the claim and the record leaves a claim that
// lapses after Lease; the next beat then fires the tick again under the
// same Job.ID, which the driver's Enqueue turns into nothing new (asynq's
// task ids; the FlowStore drivers' step ids): a tick is neither skipped
// nor doubled when a worker dies while firing it.
package redisschedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// DefaultLease and DefaultTickTTL are Store.Lease and Store.TickTTL when
// zero.
const (
	DefaultLease   = 30 * time.Second
	DefaultTickTTL = 7 * 24 * time.Hour
)

// Store keeps one deployment's schedules. Set RC, Prefix and Enqueue; the
// zero Lease and TickTTL are DefaultLease and DefaultTickTTL. Its methods
// implement driver.ScheduleStore; their errors carry no engine name, which
// the driver adds.
type Store struct {
	// RC is the Redis the schedules live in.
	RC redis.Cmdable
	// Prefix starts every key of the store ("taskhost:schedule:").
	Prefix string
	// Enqueue enqueues a tick's job and returns its task id. The job's ID
	// is the tick's (TickID): enqueueing an ID already enqueued must
	// enqueue nothing and return that task's id.
	Enqueue func(ctx context.Context, j *driver.Job) (string, error)
	// Lease is how long a tick's claim holds while its task is enqueued.
	Lease time.Duration
	// TickTTL is how long a fired tick is remembered: a beat never fires a
	// tick older than the schedule's last run, so this only bounds how
	// late a stalled worker may be and still find the tick fired.
	TickTTL time.Duration
}

// TickID is the Job.ID of a schedule's tick.
func TickID(name string, at time.Time) string {
	return "sched_" + name + "_" + strconv.FormatInt(at.UnixNano(), 10)
}

// stampLayout writes times that sort as text as they sort in time.
const stampLayout = "2006-01-02T15:04:05.000000000Z"

func stamp(t time.Time) string { return t.UTC().Format(stampLayout) }

func (s *Store) defsKey() string { return s.Prefix + "defs" }
func (s *Store) lastKey() string { return s.Prefix + "last" }
func (s *Store) tickKey(name string, at time.Time) string {
	return s.Prefix + "tick:" + name + ":" + strconv.FormatInt(at.UnixNano(), 10)
}

func (s *Store) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultLease
}

func (s *Store) tickTTL() time.Duration {
	if s.TickTTL > 0 {
		return s.TickTTL
	}
	return DefaultTickTTL
}

// PutScheduleRecord implements driver.ScheduleStore: it creates or
// replaces the schedule of s.Name; its last run is kept.
func (s *Store) PutScheduleRecord(ctx context.Context, sc driver.Schedule) error {
	def, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("schedule %q: %w", sc.Name, err)
	}
	if err := s.RC.HSet(ctx, s.defsKey(), sc.Name, def).Err(); err != nil {
		return fmt.Errorf("storing schedule %q: %w", sc.Name, err)
	}
	return nil
}

// DeleteSchedule implements driver.ScheduleStore: an unknown name is
// driver.ErrNotFound. The schedule's tick claims expire on their own.
func (s *Store) DeleteSchedule(ctx context.Context, name string) error {
	p := s.RC.TxPipeline()
	n := p.HDel(ctx, s.defsKey(), name)
	p.HDel(ctx, s.lastKey(), name)
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("deleting schedule %q: %w", name, err)
	}
	if n.Val() == 0 {
		return fmt.Errorf("schedule %q: %w", name, driver.ErrNotFound)
	}
	return nil
}

// Schedules implements driver.ScheduleStore: every schedule, sorted by
// name, with its last run and its next tick.
func (s *Store) Schedules(ctx context.Context) ([]driver.ScheduleInfo, error) {
	p := s.RC.Pipeline()
	defs := p.HGetAll(ctx, s.defsKey())
	last := p.HGetAll(ctx, s.lastKey())
	if _, err := p.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading schedules: %w", err)
	}
	out := make([]driver.ScheduleInfo, 0, len(defs.Val()))
	for name, def := range defs.Val() {
		var si driver.ScheduleInfo
		if err := json.Unmarshal([]byte(def), &si.Schedule); err != nil {
			return nil, fmt.Errorf("schedule %q: its stored definition does not decode: %w", name, err)
		}
		if l := last.Val()[name]; l != "" {
			at, id, _ := strings.Cut(l, " ")
			si.LastRun, _ = time.Parse(stampLayout, at)
			si.LastID = id
		}
		from := si.LastRun
		if from.IsZero() {
			from = time.Now()
		}
		si.NextRun, _ = si.Next(from)
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// claimTick: KEYS the tick's claim, the definitions; ARGV the schedule's
// name, the lease (ms). It returns {-1, ""} when the schedule is gone,
// {1, ""} having claimed the tick, else {0, the claim's task id}.
var claimTick = redis.NewScript(`
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return {-1, ''} end
if redis.call('SET', KEYS[1], '', 'NX', 'PX', ARGV[2]) then return {1, ''} end
return {0, redis.call('GET', KEYS[1]) or ''}
`)

// releaseTick frees a claim whose task was not enqueued: KEYS the claim.
var releaseTick = redis.NewScript(`
if redis.call('GET', KEYS[1]) == '' then return redis.call('DEL', KEYS[1]) end
return 0
`)

// recordTick: KEYS the tick's claim, the last runs, the definitions; ARGV
// the task id, the claim's expiry (ms), the tick's stamp, the name. The
// claim keeps the task id; the tick becomes the schedule's last run unless
// a later one is recorded or the schedule is gone.
var recordTick = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('HEXISTS', KEYS[3], ARGV[4]) == 0 then return 0 end
local last = redis.call('HGET', KEYS[2], ARGV[4])
if last and string.sub(last, 1, #ARGV[3]) >= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[4], ARGV[3] .. ' ' .. ARGV[1])
return 1
`)

// FireTick implements driver.ScheduleStore; see the package documentation.
// A schedule deleted since the beat read it is driver.ErrNotFound.
func (s *Store) FireTick(ctx context.Context, name string, at time.Time, job *driver.Job) (string, bool, error) {
	fail := func(err error) (string, bool, error) {
		return "", false, fmt.Errorf("schedule %q tick %s: %w", name, at.UTC().Format(time.RFC3339Nano), err)
	}
	if s.Enqueue == nil {
		return fail(errors.New("redisschedule.Store has no Enqueue"))
	}
	key := s.tickKey(name, at)
	res, err := claimTick.Run(ctx, s.RC, []string{key, s.defsKey()}, name, s.lease().Milliseconds()).Slice()
	if err != nil {
		return fail(err)
	}
	if len(res) != 2 {
		return fail(fmt.Errorf("unexpected reply %v to the claim", res))
	}
	held, _ := res[1].(string)
	switch code, _ := res[0].(int64); code {
	case -1:
		return fail(fmt.Errorf("the schedule is gone: %w", driver.ErrNotFound))
	case 0:
		return held, false, nil
	}
	j := *job
	j.ID = TickID(name, at)
	id, err := s.Enqueue(ctx, &j)
	if err != nil {
		if rerr := releaseTick.Run(context.WithoutCancel(ctx), s.RC, []string{key}).Err(); rerr != nil {
			err = fmt.Errorf("%w (and releasing its claim failed: %v; it lapses within %s)", err, rerr, s.lease())
		}
		return fail(err)
	}
	err = recordTick.Run(context.WithoutCancel(ctx), s.RC, []string{key, s.lastKey(), s.defsKey()},
		id, s.tickTTL().Milliseconds(), stamp(at), name).Err()
	if err != nil {
		// The task is enqueued; the claim lapses and a later beat fires the
		// tick again under the same Job.ID, which enqueues nothing new.
		return fail(fmt.Errorf("task %s enqueued, recording it failed: %w", id, err))
	}
	return id, true, nil
}
