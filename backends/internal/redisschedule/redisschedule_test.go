package redisschedule_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
	"taskhost.dev/backends/internal/redisschedule"
)

// queue is a fake engine's queue: Enqueue dedupes by Job.ID, as the
// drivers' enqueue does, and counts what it enqueued.
type queue struct {
	mu   sync.Mutex
	ids  map[string]string // Job.ID -> task id
	jobs []*driver.Job
	fail error // when set, Enqueue fails with it
}

func (q *queue) enqueue(_ context.Context, j *driver.Job) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return "", q.fail
	}
	if id, ok := q.ids[j.ID]; ok {
		return id, nil
	}
	id := fmt.Sprintf("task-%d", len(q.jobs)+1)
	q.ids[j.ID] = id
	q.jobs = append(q.jobs, j)
	return id, nil
}

func (q *queue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}

// store is a Store on the local Redis, database 10 (each package that
// uses Redis has its own database number), under a prefix of the test's
// own whose keys are deleted at the end.
func store(t *testing.T) (*redisschedule.Store, *queue) {
	t.Helper()
	url := os.Getenv("TASKHOST_TEST_SCHEDULE_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/10"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	if err := rc.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at %s: %v", url, err)
	}
	prefix := fmt.Sprintf("rstest:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rc.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
		rc.Close()
	})
	q := &queue{ids: map[string]string{}}
	return &redisschedule.Store{RC: rc, Prefix: prefix, Enqueue: q.enqueue}, q
}

var job = &driver.Job{Task: "echo", Queue: "default"}

func TestPutListDelete(t *testing.T) {
	s, _ := store(t)
	ctx := context.Background()
	for _, sc := range []driver.Schedule{
		{Name: "b", Task: "echo", Cron: "*/5 * * * *"},
		{Name: "a", Task: "echo", Every: time.Minute, Source: "manifest"},
	} {
		if err := s.PutScheduleRecord(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	// Replaced by name.
	if err := s.PutScheduleRecord(ctx, driver.Schedule{Name: "a", Task: "echo", Every: time.Hour, Source: "manifest"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Schedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "a" || list[0].Every != time.Hour || list[0].Source != "manifest" || list[1].Cron != "*/5 * * * *" {
		t.Fatalf("Schedules = %+v; want a (every 1h, from the manifest) then b", list)
	}
	for _, si := range list {
		if si.NextRun.IsZero() || !si.LastRun.IsZero() || si.LastID != "" {
			t.Errorf("schedule %s never fired: %+v; want its next run and no last run", si.Name, si)
		}
	}
	if err := s.DeleteSchedule(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSchedule(ctx, "a"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("DeleteSchedule of a deleted schedule: %v, want ErrNotFound", err)
	}
	if list, err := s.Schedules(ctx); err != nil || len(list) != 1 || list[0].Name != "b" {
		t.Errorf("Schedules after deleting a = %+v, %v; want b alone", list, err)
	}
}

// TestFireTickOnce: eight workers fire the same tick at once; one task is
// enqueued, under the tick's id, and recorded as the last run.
func TestFireTickOnce(t *testing.T) {
	s, q := store(t)
	ctx := context.Background()
	if err := s.PutScheduleRecord(ctx, driver.Schedule{Name: "s", Task: "echo", Every: time.Second}); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_900_000_000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fired := 0
	for range 8 {
		wg.Go(func() {
			_, won, err := s.FireTick(ctx, "s", at, job)
			if err != nil {
				t.Error(err)
			}
			if won {
				mu.Lock()
				fired++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fired != 1 || q.count() != 1 {
		t.Fatalf("eight workers firing one tick: %d fired, %d enqueued; want 1 and 1", fired, q.count())
	}
	if got, want := q.jobs[0].ID, redisschedule.TickID("s", at); got != want || q.jobs[0].Task != "echo" || job.ID != "" {
		t.Errorf("the tick's job: ID %q task %q (template ID %q); want ID %q, the template untouched", got, q.jobs[0].Task, job.ID, want)
	}
	if id, won, err := s.FireTick(ctx, "s", at, job); err != nil || won || id != "task-1" {
		t.Errorf("firing a fired tick again: %q, %v, %v; want task-1, not fired", id, won, err)
	}
	// An earlier tick fired late does not move the last run back.
	if _, won, err := s.FireTick(ctx, "s", at.Add(-time.Second), job); err != nil || !won {
		t.Fatalf("an earlier tick: %v, %v", won, err)
	}
	list, err := s.Schedules(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("Schedules = %+v, %v", list, err)
	}
	if si := list[0]; !si.LastRun.Equal(at) || si.LastID != "task-1" || !si.NextRun.Equal(at.Add(time.Second)) {
		t.Errorf("after the tick: last run %s (%s), next %s; want %s (task-1), next a second later", si.LastRun, si.LastID, si.NextRun, at)
	}
}

// TestEnqueueFailureReleasesTick: a tick whose task could not be enqueued
// is fired again by the next beat.
func TestEnqueueFailureReleasesTick(t *testing.T) {
	s, q := store(t)
	ctx := context.Background()
	if err := s.PutScheduleRecord(ctx, driver.Schedule{Name: "s", Task: "echo", Every: time.Second}); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_900_000_000, 0)
	boom := errors.New("engine down")
	q.fail = boom
	if _, won, err := s.FireTick(ctx, "s", at, job); !errors.Is(err, boom) || won {
		t.Fatalf("FireTick with a failing enqueue: %v, %v; want the enqueue's error", won, err)
	}
	q.fail = nil
	if id, won, err := s.FireTick(ctx, "s", at, job); err != nil || !won || id != "task-1" {
		t.Fatalf("FireTick once the engine is back: %q, %v, %v; want the tick fired", id, won, err)
	}
	if list, _ := s.Schedules(ctx); len(list) != 1 || list[0].LastID != "task-1" {
		t.Errorf("Schedules = %+v; want the last run task-1", list)
	}
}

func TestDeletedScheduleDoesNotFire(t *testing.T) {
	s, q := store(t)
	ctx := context.Background()
	if _, won, err := s.FireTick(ctx, "gone", time.Now(), job); !errors.Is(err, driver.ErrNotFound) || won || q.count() != 0 {
		t.Errorf("FireTick of an unknown schedule: %v, %v, %d enqueued; want ErrNotFound and nothing", won, err, q.count())
	}
}

// TestLapsedClaim: a worker stalls (or dies) after claiming a tick; once
// its lease lapses another worker fires the tick under the same job id,
// and the tick's task is enqueued once.
func TestLapsedClaim(t *testing.T) {
	s, q := store(t)
	s.Lease = 200 * time.Millisecond
	ctx := context.Background()
	if err := s.PutScheduleRecord(ctx, driver.Schedule{Name: "s", Task: "echo", Every: time.Second}); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_900_000_000, 0)
	entered, release := make(chan string, 1), make(chan struct{})
	stalled := *s
	stalled.Enqueue = func(ctx context.Context, j *driver.Job) (string, error) {
		entered <- j.ID
		<-release
		return q.enqueue(ctx, j)
	}
	first := make(chan error, 1)
	go func() {
		_, _, err := stalled.FireTick(ctx, "s", at, job)
		first <- err
	}()
	stalledID := <-entered
	if _, won, err := s.FireTick(ctx, "s", at, job); err != nil || won {
		t.Fatalf("FireTick while another worker holds the claim: %v, %v; want not fired", won, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, won, err := s.FireTick(ctx, "s", at, job)
		if err != nil {
			t.Fatal(err)
		}
		if won {
			if id != "task-1" {
				t.Errorf("the tick fired after the lease lapsed: %q, want task-1", id)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the claim did not lapse within 10 s of a 200 ms lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if q.count() != 1 || q.jobs[0].ID != stalledID {
		t.Errorf("%d tasks enqueued (%+v; the stalled worker's job id %q); want one, under that id", q.count(), q.jobs, stalledID)
	}
}
