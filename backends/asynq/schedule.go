package asynq

import (
	"context"
	"fmt"
	"time"

	"taskhost.dev/backends/driver"
)

// Schedules on asynq: the client's beat, in every worker, fires them
// (driver.ScheduleStore) over the Redis store shared with Celery
// (backends/internal/redisschedule, under taskhost:schedule:). A tick is
// claimed once per deployment, and its task's asynq id is derived from
// the schedule and the tick (redisschedule.TickID), so that a tick fired
// again after its worker died enqueues nothing new. asynq's own Scheduler
// (and the PeriodicTaskManager over it) is not used: it keeps its entries
// in the memory of the process that runs it and enqueues every tick in
// every process that runs one (asynq asks for a single scheduler process),
// so a client cannot add a schedule to it and a deployment of several
// workers would fire each tick once per worker.

// PutScheduleRecord implements driver.ScheduleStore.
func (b *backend) PutScheduleRecord(ctx context.Context, s driver.Schedule) error {
	if err := b.sched.PutScheduleRecord(ctx, s); err != nil {
		return fmt.Errorf("asynq: %w", err)
	}
	return nil
}

// DeleteSchedule implements driver.ScheduleStore.
func (b *backend) DeleteSchedule(ctx context.Context, name string) error {
	if err := b.sched.DeleteSchedule(ctx, name); err != nil {
		return fmt.Errorf("asynq: %w", err)
	}
	return nil
}

// Schedules implements driver.ScheduleStore.
func (b *backend) Schedules(ctx context.Context) ([]driver.ScheduleInfo, error) {
	list, err := b.sched.Schedules(ctx)
	if err != nil {
		return nil, fmt.Errorf("asynq: %w", err)
	}
	return list, nil
}

// FireTick implements driver.ScheduleStore.
func (b *backend) FireTick(ctx context.Context, name string, at time.Time, j *driver.Job) (string, bool, error) {
	id, fired, err := b.sched.FireTick(ctx, name, at, j)
	if err != nil {
		return "", false, fmt.Errorf("asynq: %w", err)
	}
	return id, fired, nil
}
