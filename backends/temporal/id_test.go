package temporal

import "testing"

// TestExecution: a keyed task's id names its run; other ids are a
// workflow id alone, even with a slash.
func TestExecution(t *testing.T) {
	const run = "01a2360c-1357-7a48-8d66-05f7bd973857"
	for _, c := range []struct{ id, wf, run string }{
		{"task-u-key/" + run, "task-u-key", run},
		{"task-u-a/b/" + run, "task-u-a/b", run},
		{"task-u-key/not-a-run", "task-u-key/not-a-run", ""},
		{"task-0123abcd", "task-0123abcd", ""},
		{"bt_nosuch/" + run, "bt_nosuch/" + run, ""},
		{"wf-0123/1.0", "wf-0123/1.0", ""},
	} {
		if wf, r := execution(c.id); wf != c.wf || r != c.run {
			t.Errorf("execution(%q) = %q, %q; want %q, %q", c.id, wf, r, c.wf, c.run)
		}
	}
}
