package celery

import (
	"context"
	"fmt"
	"time"

	"taskhost.dev/backends/driver"
	"taskhost.dev/backends/internal/redisschedule"
)

// Schedules on the Celery wire: the host is the beat. The client's beat,
// in every worker, fires the schedules kept in Redis (driver.ScheduleStore
// over backends/internal/redisschedule, under taskhost:celery:schedule:),
// each tick claimed once per deployment; a tick is an ordinary Celery
// message, which Python workers accept too. A tick's task id is derived
// from the schedule and the tick, and a tick fired again after the worker
// firing it died finds its task recorded and sends nothing new.

// schedulePrefix starts the keys of the schedules; apart from asynq's, so
// that deployments of both engines on one Redis keep their own.
const schedulePrefix = "taskhost:celery:schedule:"

func (b *backend) schedules() *redisschedule.Store {
	return &redisschedule.Store{RC: b.broker, Prefix: schedulePrefix, Enqueue: b.enqueueTick}
}

// enqueueTick sends a tick's job once: a job whose id has a record was
// sent before.
func (b *backend) enqueueTick(ctx context.Context, j *driver.Job) (string, error) {
	n, err := b.broker.Exists(ctx, recordKey(j.ID)).Result()
	if err != nil {
		return "", err
	}
	if n > 0 {
		return j.ID, nil
	}
	return b.Enqueue(ctx, j)
}

// PutScheduleRecord implements driver.ScheduleStore.
func (b *backend) PutScheduleRecord(ctx context.Context, s driver.Schedule) error {
	if err := b.schedules().PutScheduleRecord(ctx, s); err != nil {
		return fmt.Errorf("celery: %w", err)
	}
	return nil
}

// DeleteSchedule implements driver.ScheduleStore.
func (b *backend) DeleteSchedule(ctx context.Context, name string) error {
	if err := b.schedules().DeleteSchedule(ctx, name); err != nil {
		return fmt.Errorf("celery: %w", err)
	}
	return nil
}

// Schedules implements driver.ScheduleStore.
func (b *backend) Schedules(ctx context.Context) ([]driver.ScheduleInfo, error) {
	list, err := b.schedules().Schedules(ctx)
	if err != nil {
		return nil, fmt.Errorf("celery: %w", err)
	}
	return list, nil
}

// FireTick implements driver.ScheduleStore.
func (b *backend) FireTick(ctx context.Context, name string, at time.Time, j *driver.Job) (string, bool, error) {
	id, fired, err := b.schedules().FireTick(ctx, name, at, j)
	if err != nil {
		return "", false, fmt.Errorf("celery: %w", err)
	}
	return id, fired, nil
}
