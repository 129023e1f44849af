package temporal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"taskhost.dev/backends"
)

// TestScheduleReplaced: creating a schedule under a name in use replaces
// it (the Temporal schedule's update), the listing shows the second once
// (visibility may show it a moment later), and a second delete is
// ErrNotFound.
func TestScheduleReplaced(t *testing.T) {
	ctx := context.Background()
	b, err := backends.Open(ctx, "temporal", config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	q := fmt.Sprintf("replace_%d", time.Now().UnixNano())
	if err := b.Register(ctx, backends.TaskSpec{Name: "replaced", Queue: q}); err != nil {
		t.Fatal(err)
	}
	s := backends.Schedule{Name: q, Task: "replaced", Cron: "0 0 1 1 *"}
	if err := b.CreateSchedule(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Cron, s.Every = "", time.Hour
	if err := b.CreateSchedule(ctx, s); err != nil {
		t.Fatalf("replacing schedule %s: %v", q, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := b.Schedules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var found []backends.ScheduleInfo
		for _, si := range list {
			if si.Name == q {
				found = append(found, si)
			}
		}
		if len(found) == 1 && found[0].Every == time.Hour && found[0].Cron == "" {
			if found[0].NextRun.IsZero() {
				t.Errorf("schedule %+v: no next run", found[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Schedules() lists %+v for %s, want the replaced schedule once", found, q)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := b.DeleteSchedule(ctx, q); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteSchedule(ctx, q); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("deleting schedule %s again: %v, want ErrNotFound", q, err)
	}
}
