// Package backendtest is the conformance suite every engine adapter runs
// against its real engine:
//
//	func TestMain(m *testing.M) { backendtest.Main(m) }
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, "river", backends.Config{URL: ...})
//	}
//
// It checks: a round trip, a typed failure, retry then success, a timeout,
// queue routing, an unknown task, an unknown id, 1,000 concurrent tasks with
// none lost or doubled, a graceful drain, and a worker killed with SIGKILL
// mid-run whose tasks all complete after a restart. Each test uses queues of
// its own, so the tests of one run can share a database.
//
// Main lets the suite re-run the test binary as a worker process (for the
// SIGKILL test); it must be called from the adapter's TestMain.
package backendtest
