package hatchet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"
	"github.com/rs/zerolog"

	"taskhost.dev/backends/driver"
)

// registerWithin bounds the wait for the engine to list a new
// registration; the SDK panics when a registration is stopped before the
// engine has it, so one is not stopped before this long.
const registerWithin = 30 * time.Second

// The states of one registration attempt: undecided, kept (the worker's
// current registration) or abandoned (its caller gave up: it is stopped
// once the engine has it).
const (
	attemptUndecided int32 = iota
	attemptKept
	attemptAbandoned
)

// register gives the worker a Hatchet registration with what it would
// serve now: every registered task on each of its queues and every
// declared workflow's DAG. It does nothing when that has not changed. A
// new registration replaces the current one once the engine lists it: the
// old one then takes no more tasks, and its running ones finish.
//
// It honours ctx, and holds no lock the drain needs while it waits: when
// ctx ends first it returns ctx's error, and the registration being made
// goes on alone: it is stopped once the engine has it, and what it would
// serve is registered again by the next call.
func (w *worker) register(ctx context.Context) error {
	select {
	case w.registering <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.registering }()
	flows, key, err := w.workflows()
	if err != nil || key == w.key {
		return err
	}
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return nil
	}
	w.pending.Add(1)
	w.mu.Unlock()
	var state atomic.Int32
	done := make(chan error, 1)
	go func() {
		defer w.pending.Done()
		done <- w.attempt(flows, &state)
	}()
	select {
	case err := <-done:
		if err == nil {
			w.key = key
		}
		return err
	case <-ctx.Done():
		if state.CompareAndSwap(attemptUndecided, attemptAbandoned) {
			return ctx.Err()
		}
		if err := <-done; err != nil { // decided just now
			return err
		}
		w.key = key
		return nil
	}
}

// attempt makes one registration, waits until the engine lists it, then
// keeps it as the worker's current one (stopping the one it replaces) or,
// when the drain started or the caller gave up meanwhile, stops it.
func (w *worker) attempt(flows []hatchet.WorkflowBase, state *atomic.Int32) error {
	b := w.b
	// A suffix tells this registration from others of the same name.
	name := hatchetName(fmt.Sprintf("%s-%s", w.cfg.Name, uuid.NewString()[:8]))
	hw, err := b.c.NewWorker(name, hatchet.WithWorkflows(flows...), hatchet.WithSlots(w.cfg.Concurrency), hatchet.WithLogger(sdkLogger()))
	if err != nil {
		state.Store(attemptAbandoned)
		return fmt.Errorf("hatchet: registering the worker's workflows: %w", err)
	}
	stop, err := hw.Start()
	if err != nil {
		state.Store(attemptAbandoned)
		return fmt.Errorf("hatchet: starting the worker: %w", err)
	}
	b.waitRegistered(name)
	w.mu.Lock()
	keep := !w.stopping && state.CompareAndSwap(attemptUndecided, attemptKept)
	var old func() error
	if keep {
		old, w.stopSDK = w.stopSDK, stop
	} else {
		old = stop
	}
	w.mu.Unlock()
	if old != nil {
		if err := old(); err != nil {
			b.logger.Warn("hatchet: stopping a replaced or abandoned worker registration", "err", err)
		}
	}
	if !keep && !w.isStopping() {
		return errors.New("hatchet: the registration was abandoned")
	}
	return nil
}

func (w *worker) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

// workflows builds what the worker serves now, and a key that changes
// when that does.
func (w *worker) workflows() ([]hatchet.WorkflowBase, string, error) {
	b := w.b
	specs := b.tasks.Specs()
	var flows []hatchet.WorkflowBase
	for _, spec := range specs {
		for _, q := range w.cfg.Queues {
			flow, err := b.taskWorkflow(spec, q, w.taskFn(spec))
			if err != nil {
				return nil, "", err
			}
			flows = append(flows, flow)
		}
	}
	b.mu.Lock()
	names := make([]string, 0, len(b.flows))
	for n := range b.flows {
		names = append(names, n)
	}
	sort.Strings(names)
	defs := make([]driver.Workflow, 0, len(names))
	for _, n := range names {
		defs = append(defs, normalize(b.flows[n]))
	}
	b.mu.Unlock()
	for _, d := range defs {
		dag, err := b.buildDAG(d, w)
		if err != nil {
			return nil, "", err
		}
		flows = append(flows, dag)
	}
	if len(flows) == 0 {
		return nil, "", errors.New("hatchet: nothing to serve: register tasks before Work")
	}
	key, _ := json.Marshal([]any{specs, defs})
	return flows, string(key), nil
}

// waitRegistered returns once the engine lists the named worker as
// active, or after registerWithin.
func (b *backend) waitRegistered(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), registerWithin)
	defer cancel()
	for ctx.Err() == nil {
		if l, err := b.c.Workers().List(ctx); err == nil && l.Rows != nil {
			for _, w := range *l.Rows {
				if w.Name == name && w.Status != nil && *w.Status == rest.ACTIVE {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	b.logger.Warn("hatchet: the engine did not list the worker as active", "worker", name, "within", registerWithin)
}

// sdkLogger is the SDK worker's logger: warnings and errors to standard
// error, without the line it writes for every failed attempt (the task's
// outcome is the engine's and the host's to report).
func sdkLogger() *zerolog.Logger {
	l := zerolog.New(dropWriter{os.Stderr, "could not execute action"}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	return &l
}

// dropWriter drops the log lines that contain drop.
type dropWriter struct {
	w    io.Writer
	drop string
}

func (d dropWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(d.drop)) {
		return len(p), nil
	}
	return d.w.Write(p)
}
