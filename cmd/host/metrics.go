package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskhost.dev/host"
)

var nowFunc = time.Now

// metrics are what only the host knows: task outcomes and durations in the
// sandbox, and the instance pools. The engine's own queue metrics belong
// to the engine's tools.
type metrics struct {
	reg      *prometheus.Registry
	tasks    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(h *host.Host) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhost_tasks_total",
			Help: "Task attempts run in the sandbox, by task, plugin and outcome (succeeded or the failure kind).",
		}, []string{"task", "plugin", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskhost_task_duration_seconds",
			Help:    "Time of one task attempt in the sandbox, instance wait included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"task", "plugin"}),
	}
	m.reg.MustRegister(m.tasks, m.duration, poolCollector{h}, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(task, plugin string, d time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "succeeded"
	if err != nil {
		outcome = "failed"
		if te, ok := host.AsTaskError(err); ok {
			outcome = string(te.Kind)
		}
	}
	m.tasks.WithLabelValues(task, plugin, outcome).Inc()
	if plugin != "" {
		m.duration.WithLabelValues(task, plugin).Observe(d.Seconds())
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
