package hatchet

import (
	"sync"
	"time"

	"taskhost.dev/backends/driver"
)

// ownGrace is how long an id this process handed out may be unknown to
// the engine and still read as pending: the engine records a run a moment
// after accepting it (seconds when it is busy: a DAG's run took over 5 s
// in CI with every test package running), and the REST API lists a
// delayed task's run some seconds after its schedule is gone. An id from
// elsewhere gets the client's RecordLag, a second.
const ownGrace = time.Minute

// recent remembers the ids this process handed out (and the delayed
// tasks it last found), so that Result reads them as pending while the
// engine has not recorded them. Safe for concurrent use.
type recent struct {
	mu  sync.Mutex
	ids map[string]recentID
}

// recentID is when an id was last handed out or found, and the workflow
// it runs, if it is one.
type recentID struct {
	at time.Time
	wf *driver.Workflow
}

// note records id as handed out or found now.
func (r *recent) note(id string, wf *driver.Workflow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.ids == nil {
		r.ids = map[string]recentID{}
	}
	if len(r.ids) >= 1024 {
		for k, v := range r.ids {
			if now.Sub(v.at) > ownGrace {
				delete(r.ids, k)
			}
		}
	}
	if wf == nil {
		wf = r.ids[id].wf
	}
	r.ids[id] = recentID{at: now, wf: wf}
}

// lookup reports whether id was handed out or found within ownGrace, with
// its workflow.
func (r *recent) lookup(id string) (*driver.Workflow, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.ids[id]
	return v.wf, ok && time.Since(v.at) < ownGrace
}
