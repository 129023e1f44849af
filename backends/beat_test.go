package backends

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"taskhost.dev/backends/driver"
)

// memStore is a driver with an in-memory ScheduleStore, to test the beat's
// own logic: which ticks it fires. Each engine's store is tested against
// the engine by backendtest.
type memStore struct {
	mu     sync.Mutex
	scheds map[string]ScheduleInfo
	fired  map[string]string // name@tick -> id
	jobs   []*driver.Job
}

func (m *memStore) Engine() string { return "memstore" }
func (m *memStore) Enqueue(context.Context, *driver.Job) (string, error) {
	return "", fmt.Errorf("not used")
}
func (m *memStore) Result(context.Context, string) (TaskResult, error) {
	return TaskResult{}, ErrNotFound
}
func (m *memStore) Work(context.Context, driver.WorkerConfig, driver.Handler) error { return nil }
func (m *memStore) Close() error                                                    { return nil }
func (m *memStore) PutScheduleRecord(_ context.Context, s Schedule) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scheds[s.Name] = ScheduleInfo{Schedule: s}
	return nil
}
func (m *memStore) DeleteSchedule(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.scheds, name)
	return nil
}
func (m *memStore) Schedules(context.Context) ([]ScheduleInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ScheduleInfo
	for _, s := range m.scheds {
		out = append(out, s)
	}
	return out, nil
}
func (m *memStore) FireTick(_ context.Context, name string, at time.Time, j *driver.Job) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := name + "@" + at.UTC().Format(time.RFC3339Nano)
	if id, ok := m.fired[key]; ok {
		return id, false, nil
	}
	id := fmt.Sprint(len(m.jobs) + 1)
	m.fired[key] = id
	m.jobs = append(m.jobs, j)
	s := m.scheds[name]
	s.LastRun, s.LastID = at, id
	m.scheds[name] = s
	return id, true, nil
}

func TestBeat(t *testing.T) {
	ctx := context.Background()
	store := &memStore{scheds: map[string]ScheduleInfo{}, fired: map[string]string{}}
	c := &Client{drv: store, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c.tasks.defaultQueue = driver.DefaultQueue
	if err := c.Register(ctx, TaskSpec{Name: "ping", Queue: "q"}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateSchedule(ctx, Schedule{Name: "p", Task: "ping", Input: json.RawMessage(`{"x":1}`), Every: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)
	seen, seen2 := map[string]time.Time{}, map[string]time.Time{}
	// A schedule that never ran starts at its first tick after the beat
	// first saw it.
	if next := c.beatOnce(ctx, store, t0, seen); len(store.jobs) != 0 || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("before its first tick: %d jobs, next wake %v", len(store.jobs), next)
	}
	c.beatOnce(ctx, store, t0.Add(time.Second), seen2)
	// Two workers at the same moment: the tick at :10 fires once.
	now := t0.Add(6 * time.Second)
	c.beatOnce(ctx, store, now, seen)
	c.beatOnce(ctx, store, now, seen2)
	if len(store.jobs) != 1 || store.jobs[0].Queue != "q" || string(store.jobs[0].Input) != `{"x":1}` {
		t.Fatalf("one tick, two workers: %d jobs (%+v), want one on queue q with the schedule's input", len(store.jobs), store.jobs)
	}
	// No worker for 35 s: the three missed ticks fire, oldest first, once.
	now = now.Add(35 * time.Second)
	c.beatOnce(ctx, store, now, seen)
	c.beatOnce(ctx, store, now, seen2)
	if len(store.jobs) != 4 || !store.scheds["p"].LastRun.Equal(time.Date(2026, 1, 1, 0, 0, 40, 0, time.UTC)) {
		t.Fatalf("after 35 s without a worker: %d jobs, last run %v; want 4 and :40", len(store.jobs), store.scheds["p"].LastRun)
	}
}

func TestScheduleRefuses(t *testing.T) {
	ctx := context.Background()
	store := &memStore{scheds: map[string]ScheduleInfo{}, fired: map[string]string{}}
	c := &Client{drv: store, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c.tasks.defaultQueue = driver.DefaultQueue
	c.Register(ctx, TaskSpec{Name: "ping"})
	for _, tc := range []struct {
		s    Schedule
		want string
	}{
		{Schedule{Name: "", Task: "ping", Every: time.Minute}, "a schedule name is 1 to 100"},
		{Schedule{Name: "a", Task: "ping"}, "give cron"},
		{Schedule{Name: "a", Task: "ping", Cron: "* * * * *", Every: time.Minute}, "not both"},
		{Schedule{Name: "a", Task: "ping", Every: time.Millisecond}, "below the 1s minimum"},
		{Schedule{Name: "a", Task: "ping", Cron: "61 * * * *"}, `cron "61 * * * *"`},
		{Schedule{Name: "a", Task: "ping", Cron: "* * * * *", Timezone: "Mars/Olympus"}, `timezone "Mars/Olympus"`},
		{Schedule{Name: "a", Task: "nope", Every: time.Minute}, `unknown task "nope"`},
		{Schedule{Name: "a", Task: "ping", Every: time.Minute, Input: json.RawMessage(`{`)}, "is not a JSON document"},
	} {
		if err := c.CreateSchedule(ctx, tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateSchedule(%+v) = %v, want %q", tc.s, err, tc.want)
		}
	}
	if len(store.scheds) != 0 {
		t.Errorf("refused schedules were stored: %v", store.scheds)
	}
}
