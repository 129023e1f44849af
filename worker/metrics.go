package worker

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskhost.dev/abi"
	"taskhost.dev/backends"
	"taskhost.dev/host"
)

// metrics are what only the host knows: task outcomes and durations in the
// sandbox, the time split between the guest, the wait for an instance and
// the host, the instance pools; and, sampled from the engine, each queue's
// depth by state. Names follow Prometheus' conventions; the README lists
// them.
type metrics struct {
	reg        *prometheus.Registry
	attempts   *prometheus.CounterVec
	retries    *prometheus.CounterVec
	cancels    *prometheus.CounterVec
	inFlight   *prometheus.GaugeVec
	duration   *prometheus.HistogramVec
	guest      *prometheus.HistogramVec
	wait       *prometheus.HistogramVec
	overhead   *prometheus.HistogramVec
	timeouts   *prometheus.CounterVec
	logDropped *prometheus.CounterVec
	memory     *prometheus.GaugeVec
}

var secondsBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(h *host.Host) *metrics {
	hist := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: secondsBuckets}, []string{"task", "plugin", "queue"})
	}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhost_task_attempts_total",
			Help: "Task attempts run by this worker, by task, plugin, queue and outcome (succeeded, or the failure's kind).",
		}, []string{"task", "plugin", "queue", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhost_task_retries_total",
			Help: "Attempts after the first of a task (retries, and reruns after a lost worker).",
		}, []string{"task", "queue"}),
		cancels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhost_task_cancellations_total",
			Help: "Attempts that ended cancelled.",
		}, []string{"task", "queue"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskhost_tasks_in_flight",
			Help: "Attempts running in this worker now.",
		}, []string{"queue"}),
		duration: hist("taskhost_task_duration_seconds", "Time of one attempt in the worker's handler: the wait for an instance, the guest and the host's own work."),
		guest:    hist("taskhost_sandbox_guest_seconds", "Time the guest ran in one attempt."),
		wait:     hist("taskhost_sandbox_instance_wait_seconds", "Time one attempt waited for an instance of its plugin (making one included)."),
		overhead: hist("taskhost_sandbox_host_overhead_seconds", "Time of one attempt in the handler outside the guest and the wait: input checks, output copy, metrics."),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhost_sandbox_timeouts_total",
			Help: "Attempts the sandbox stopped at their timeout.",
		}, []string{"plugin"}),
		logDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhost_sandbox_log_lines_dropped_total",
			Help: "Plugin log lines dropped over an attempt's log budget (max_log_bytes, max_log_lines).",
		}, []string{"plugin"}),
		memory: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskhost_sandbox_instance_memory_bytes",
			Help: "Linear memory of the instance that ran a plugin's last attempt.",
		}, []string{"plugin"}),
	}
	m.reg.MustRegister(m.attempts, m.retries, m.cancels, m.inFlight, m.duration, m.guest, m.wait, m.overhead, m.timeouts, m.logDropped, m.memory,
		poolCollector{h}, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// start counts an attempt in flight; the returned func ends it.
func (m *metrics) start(t *backends.Task) func() {
	if m == nil {
		return func() {}
	}
	g := m.inFlight.WithLabelValues(t.Queue)
	g.Inc()
	return g.Dec
}

func (m *metrics) observe(t *backends.Task, plugin string, d time.Duration, st *host.CallStats, err error) {
	if m == nil {
		return
	}
	outcome := "succeeded"
	if err != nil {
		outcome = string(backends.ErrorOf(err).Kind)
	}
	m.attempts.WithLabelValues(t.Name, plugin, t.Queue, outcome).Inc()
	if t.Attempt > 1 {
		m.retries.WithLabelValues(t.Name, t.Queue).Inc()
	}
	switch outcome {
	case string(abi.KindCancelled):
		m.cancels.WithLabelValues(t.Name, t.Queue).Inc()
	case string(abi.KindTimeout):
		m.timeouts.WithLabelValues(plugin).Inc()
	}
	if plugin == "" {
		return
	}
	m.duration.WithLabelValues(t.Name, plugin, t.Queue).Observe(d.Seconds())
	if st != nil {
		m.guest.WithLabelValues(t.Name, plugin, t.Queue).Observe(st.Run.Seconds())
		m.wait.WithLabelValues(t.Name, plugin, t.Queue).Observe(st.Wait.Seconds())
		m.overhead.WithLabelValues(t.Name, plugin, t.Queue).Observe(max(d-st.Run-st.Wait, 0).Seconds())
		if st.LogLinesDropped > 0 {
			m.logDropped.WithLabelValues(plugin).Add(float64(st.LogLinesDropped))
		}
		if st.Memory > 0 {
			m.memory.WithLabelValues(plugin).Set(float64(st.Memory))
		}
	}
}

// queueCollector samples each queue's depth by state from the engine
// (backends.Client.QueueStats) when scraped, at most every queueSample.
type queueCollector struct {
	c *backends.Client

	mu    sync.Mutex
	at    time.Time
	stats []backends.QueueStats
}

const queueSample = 10 * time.Second

var (
	queueTasks   = prometheus.NewDesc("taskhost_queue_tasks", "Tasks of a queue by state, as the engine counts them (sampled).", []string{"queue", "state"}, nil)
	queueWorkers = prometheus.NewDesc("taskhost_queue_workers", "Workers serving a queue, where the engine knows (sampled).", []string{"queue"}, nil)
)

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueTasks
	ch <- queueWorkers
}

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	q.mu.Lock()
	if time.Since(q.at) > queueSample {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		stats, err := q.c.QueueStats(ctx)
		cancel()
		q.at = time.Now()
		if err == nil {
			q.stats = stats
		}
	}
	stats := q.stats
	q.mu.Unlock()
	for _, s := range stats {
		for state, n := range map[string]int64{"pending": s.Pending, "running": s.Running, "retrying": s.Retrying,
			"succeeded": s.Succeeded, "failed": s.Failed, "cancelled": s.Cancelled} {
			ch <- prometheus.MustNewConstMetric(queueTasks, prometheus.GaugeValue, float64(n), s.Queue, state)
		}
		if s.Workers >= 0 {
			ch <- prometheus.MustNewConstMetric(queueWorkers, prometheus.GaugeValue, float64(s.Workers), s.Queue)
		}
	}
}

// poolCollector reports each plugin's instance pool when scraped.
type poolCollector struct{ h *host.Host }

var (
	poolLive    = prometheus.NewDesc("taskhost_pool_instances", "Live instances of a plugin.", []string{"plugin"}, nil)
	poolIdle    = prometheus.NewDesc("taskhost_pool_idle_instances", "Instances waiting in a plugin's pool.", []string{"plugin"}, nil)
	poolBusy    = prometheus.NewDesc("taskhost_pool_busy_instances", "Instances of a plugin running a task.", []string{"plugin"}, nil)
	poolCreated = prometheus.NewDesc("taskhost_pool_instances_created_total", "Instances of a plugin created since start.", []string{"plugin"}, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolLive
	ch <- poolIdle
	ch <- poolBusy
	ch <- poolCreated
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.h.Plugins() {
		s := p.Stats()
		ch <- prometheus.MustNewConstMetric(poolLive, prometheus.GaugeValue, float64(s.Live), p.Name)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.Idle), p.Name)
		ch <- prometheus.MustNewConstMetric(poolBusy, prometheus.GaugeValue, float64(s.Busy), p.Name)
		ch <- prometheus.MustNewConstMetric(poolCreated, prometheus.CounterValue, float64(s.Created), p.Name)
	}
}
