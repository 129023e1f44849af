package hatchet

import (
	"context"
	"fmt"
	"log/slog"

	"taskhost.dev/backends/driver"
)

// Tombstone leaves the tombstone of the delayed task id as Cancel does,
// but keeps its schedule: the schedule then fires as one deleted after
// the engine's ticker loaded it does, for the test of the worker's guard.
func Tombstone(ctx context.Context, id string) error {
	d, err := Open(ctx, driver.Config{Logger: slog.Default()})
	if err != nil {
		return err
	}
	b := d.(*backend)
	defer b.Close()
	run, sched, err := b.runID(ctx, id)
	if err != nil {
		return err
	}
	if run != "" || sched == nil {
		return fmt.Errorf("task %s is not a delayed task waiting for its time", id)
	}
	return b.tombstone(ctx, id, sched)
}
