package backends

import (
	"context"
	"time"

	"taskhost.dev/backends/driver"
)

// The beat fires the schedules of an engine that keeps them but has no
// scheduler that fires once per deployment (driver.ScheduleStore). Every
// worker runs one: each tick is fired through FireTick, which enqueues it
// once however many workers fire it, so three workers neither triple a
// tick nor, while one runs, skip one. A tick missed while no worker ran is
// fired when one starts again (the oldest first, at most maxCatchUp per
// schedule; older ones are logged and skipped).

// beatRefresh is how often the beat rereads the schedules, so that one
// created or deleted elsewhere is seen.
const beatRefresh = time.Second

// maxCatchUp bounds the missed ticks of one schedule fired at once.
const maxCatchUp = 100

func (c *Client) beat(ctx context.Context, store driver.ScheduleStore) {
	seen := map[string]time.Time{}
	for {
		wake := c.beatOnce(ctx, store, time.Now(), seen)
		d := min(time.Until(wake), beatRefresh)
		if _, err := driver.Pause(ctx, max(d, time.Millisecond), nil); err != nil {
			return
		}
	}
}

// beatOnce fires every tick of every schedule due at now and returns when
// the next tick is due. seen holds when this beat first saw each schedule
// that has not run yet: its first tick is the first after that.
func (c *Client) beatOnce(ctx context.Context, store driver.ScheduleStore, now time.Time, seen map[string]time.Time) time.Time {
	next := now.Add(beatRefresh)
	list, err := store.Schedules(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.logger.Warn("schedules: reading them failed; retrying", "engine", c.Engine(), "err", err)
		}
		return next
	}
	for _, s := range list {
		from := s.LastRun
		if from.IsZero() {
			if _, ok := seen[s.Name]; !ok {
				seen[s.Name] = now
			}
			from = seen[s.Name]
		}
		fired := 0
		for {
			t, err := s.Next(from)
			if err != nil {
				c.logger.Error("schedules: a stored schedule is invalid; fix or delete it", "schedule", s.Name, "err", err)
				break
			}
			if t.After(now) {
				next = minTime(next, t)
				break
			}
			if fired == maxCatchUp {
				c.logger.Warn("schedules: too many missed ticks; skipping the older ones", "schedule", s.Name, "from", from)
				from = now.Add(-time.Nanosecond)
				continue
			}
			j, err := c.checkSchedule(&s.Schedule)
			if err != nil {
				c.logger.Error("schedules: a tick's task cannot be submitted", "schedule", s.Name, "err", err)
				break
			}
			id, won, err := store.FireTick(ctx, s.Name, t, j)
			if err != nil {
				if ctx.Err() == nil {
					c.logger.Warn("schedules: firing a tick failed; retrying", "schedule", s.Name, "tick", t, "err", err)
				}
				break
			}
			if won {
				c.logger.Info("schedule ticked", "schedule", s.Name, "tick", t, "task", s.Task, "task_id", id)
			}
			fired++
			from = t
		}
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
