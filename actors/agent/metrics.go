package agent

import (
	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the agent's Prometheus series, kept by the agent actor as
// its tasks change (the HTTP goroutine only reads them). A nil *Metrics
// keeps nothing.
type Metrics struct {
	tasks      *prometheus.GaugeVec
	capacity   *prometheus.GaugeVec
	used       *prometheus.GaugeVec
	registered prometheus.Gauge
	updates    *prometheus.CounterVec
	// As Mesos' agent's gc/path_removals_pending, _succeeded, _failed.
	gcPending  prometheus.Gauge
	gcRemovals *prometheus.CounterVec
}

// NewMetrics creates the agent's series and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	res := []string{"resource", "unit"}
	m := &Metrics{
		tasks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "agent", Name: "tasks",
			Help: "Tasks on this agent, by state (ended ones until their framework acknowledged the end)."}, []string{"state"}),
		capacity: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "agent", Name: "capacity",
			Help: "Resources this agent offers the cluster, in the unit the unit label names (mem and disk in bytes)."}, res),
		used: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "agent", Name: "used",
			Help: "Resources of the tasks that have not ended, in the unit the unit label names (mem and disk in bytes)."}, res),
		registered: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "agent", Name: "registered",
			Help: "1 while the agent is registered with a master, else 0."}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agora", Subsystem: "agent", Name: "status_updates_total",
			Help: "Task status updates this agent generated, by state."}, []string{"state"}),
		gcPending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "agent", Name: "gc_path_removals_pending",
			Help: "Finished tasks' sandboxes waiting for the GC delay (--sandbox-gc) before their removal."}),
		gcRemovals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agora", Subsystem: "agent", Name: "gc_path_removals_total",
			Help: "Removals of finished tasks' sandboxes, by result (succeeded, failed: the agent's log says why)."}, []string{"result"}),
	}
	reg.MustRegister(m.tasks, m.capacity, m.used, m.registered, m.updates, m.gcPending, m.gcRemovals)
	return m
}

// gc sets the sandboxes waiting for the GC delay.
func (m *Metrics) gc(pending int) {
	if m != nil {
		m.gcPending.Set(float64(pending))
	}
}

// gcRemoved counts a sandbox removal's result.
func (m *Metrics) gcRemoved(err error) {
	if m == nil {
		return
	}
	result := "succeeded"
	if err != nil {
		result = "failed"
	}
	m.gcRemovals.WithLabelValues(result).Inc()
}

func (m *Metrics) setCapacity(rs []*messages.Resource) {
	if m == nil {
		return
	}
	m.capacity.Reset()
	for _, r := range rs {
		if r.Scalar != 0 {
			v, unit := messages.InBaseUnit(r.Name, r.Scalar)
			m.capacity.WithLabelValues(r.Name, unit).Add(v)
		}
	}
}

// task accounts for a task moving from one state to another; a zero
// from is a task new here, a zero to one forgotten.
func (m *Metrics) task(run *taskRun, from, to messages.TaskState) {
	if m == nil {
		return
	}
	if from != 0 {
		m.tasks.WithLabelValues(from.String()).Dec()
	}
	if to != 0 {
		m.tasks.WithLabelValues(to.String()).Inc()
	}
	live := func(s messages.TaskState) bool { return s != 0 && !messages.IsTerminal(s) }
	if live(from) == live(to) {
		return
	}
	sign := 1.0
	if live(from) {
		sign = -1
	}
	for _, r := range run.info.GetResources() {
		if r.Scalar != 0 {
			v, unit := messages.InBaseUnit(r.Name, r.Scalar)
			m.used.WithLabelValues(r.Name, unit).Add(sign * v)
		}
	}
}

func (m *Metrics) setRegistered(yes bool) {
	if m == nil {
		return
	}
	v := 0.0
	if yes {
		v = 1
	}
	m.registered.Set(v)
}

func (m *Metrics) update(state messages.TaskState) {
	if m == nil {
		return
	}
	m.updates.WithLabelValues(state.String()).Inc()
}
