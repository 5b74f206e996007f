package master

import (
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the master's Prometheus series.
type Metrics struct {
	agents            *prometheus.GaugeVec
	registrations     prometheus.Counter
	reregistrations   prometheus.Counter
	reregRetries      prometheus.Counter
	retries           atomic.Int64 // reregRetries, readable without a registry (ReregistrationRetries)
	heartbeats        prometheus.Counter
	heartbeatsHanded  prometheus.Counter
	unreachableEvents prometheus.Counter
	rejected          *prometheus.CounterVec
	heartbeatInterval prometheus.Gauge
	offers            prometheus.Counter
	rescinds          prometheus.Counter
	declines          prometheus.Counter
	launched          prometheus.Counter
	statusUpdates     *prometheus.CounterVec
	preemptions       *prometheus.CounterVec
	roleUsed          *prometheus.GaugeVec
	roleGuarantee     *prometheus.GaugeVec
	roleRevocable     *prometheus.GaugeVec
	permissionDenied  *prometheus.CounterVec
	aclLoads          *prometheus.CounterVec

	// From each snapshot: the cluster's resources (leadership and epoch
	// are the seat's: actors/mastership).
	capacity, used, offered, revocable *prometheus.GaugeVec
	// From the books' counts (setCounts): tasks and frameworks by state;
	// taskStates are the states the tasks gauge has a series for.
	tasks, frameworks *prometheus.GaugeVec
	taskStates        map[messages.TaskState]bool

	offerToLaunch, updateLatency prometheus.Histogram
	limitExceeded                *prometheus.CounterVec
	agentsRemoved                prometheus.Counter
}

// resourceLabels are the labels of a resource gauge: amounts are in the
// resource's base unit (mem and disk, MB in Mesos' resources, in bytes),
// named by the unit label as kube-state-metrics does, so that one series
// never mixes cores and bytes.
var resourceLabels = []string{"resource", "unit"}

// NewMetrics creates the master's series and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		agents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "agora", Subsystem: "master", Name: "agents", Help: "Agents known to the master, by liveness.",
		}, []string{"state"}),
		registrations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "master", Name: "agent_registrations_total", Help: "New agents admitted.",
		}),
		reregistrations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "master", Name: "agent_reregistrations_total", Help: "Agents re-admitted with their existing ID.",
		}),
		reregRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "master", Name: "agent_reregistration_retries_total", Help: "Re-registration retries of an admission already taken (the agent retried before the first answer reached it): answered again without a second admission, or ignored within 2 s of the last answer.",
		}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "master", Name: "agent_heartbeats_total", Help: "Agent heartbeats received.",
		}),
		heartbeatsHanded: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "master", Name: "agent_heartbeats_handed_to_master_total",
			Help: "Agent heartbeats an agent's handler handed to the master instead of answering them: from another identity, naming another agent, or of an agent it reported unreachable. Heartbeats of agents of an older version go to the master itself and are not counted here.",
		}),
		unreachableEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "master", Name: "agent_unreachable_total", Help: "Times an agent was marked unreachable.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "master", Name: "messages_rejected_total", Help: "Messages answered with an error, by error code.",
		}, []string{"code"}),
		heartbeatInterval: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "agora", Subsystem: "master", Name: "agent_heartbeat_interval_seconds", Help: "Heartbeat interval agents are told to use.",
		}),
	}
	m.offers = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "offers_total", Help: "Offers sent to frameworks."})
	m.rescinds = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "offers_rescinded_total", Help: "Offers rescinded (timed out, failover, agent gone)."})
	m.declines = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "offers_declined_total", Help: "Offers declined by frameworks."})
	m.launched = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "tasks_launched_total", Help: "Tasks sent to agents."})
	m.statusUpdates = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "status_updates_total", Help: "Task status updates from agents, by state."}, []string{"state"})
	m.preemptions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "preemptions_total", Help: "Tasks preempted to reclaim resources for roles below their guarantee, by the preempted task's role."}, []string{"role"})
	roleLabels := append([]string{"role"}, resourceLabels...)
	m.roleUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "role_used", Help: "Resources used by live tasks, by role and resource, in the unit the unit label names (mem and disk in bytes)."}, roleLabels)
	m.roleGuarantee = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "role_guarantee", Help: "Configured guarantee, by role and resource, in the unit the unit label names."}, roleLabels)
	m.roleRevocable = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "role_revocable_used", Help: "Resources used by revocable tasks, by role and resource, in the unit the unit label names."}, roleLabels)
	m.permissionDenied = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agora", Name: "permission_denied_total", Help: "Requests refused for who sent them, by access control list action (register_frameworks, run_tasks, update_roles, view_state, ...) or identity (a certificate of the wrong role, or of another agent or framework)."}, []string{"action"})
	m.aclLoads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "acl_loads_total", Help: "Access control lists loaded on a change of their file or Consul key, by result: applied, or refused (invalid or unreadable; the list in force stays)."}, []string{"result"})
	reg.MustRegister(m.permissionDenied, m.aclLoads)
	m.limitExceeded = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "limit_exceeded_total", Help: "Requests refused by one of the master's limits, by the flag that raises it."}, []string{"limit"})
	m.agentsRemoved = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "agents_removed_total", Help: "Agents removed after --agent-unreachable-timeout."})
	reg.MustRegister(m.limitExceeded, m.agentsRemoved)
	reg.MustRegister(m.preemptions, m.roleUsed, m.roleGuarantee, m.roleRevocable)
	cluster := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "cluster", Name: name, Help: help + ", by resource, in the unit the unit label names (mem and disk in bytes)."}, resourceLabels)
	}
	m.capacity = cluster("capacity", "Resources of the reachable agents")
	m.used = cluster("used", "Resources used by live tasks")
	m.offered = cluster("offered", "Resources in outstanding offers")
	m.revocable = cluster("revocable_used", "Revocable resources used by live tasks")
	m.tasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "tasks", Help: "Live tasks (not yet ended, or ended and not yet acknowledged), by state."}, []string{"state"})
	m.frameworks = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "frameworks", Help: "Frameworks, by state: connected, disconnected (within their failover timeout), tearing_down."}, []string{"state"})
	reg.MustRegister(m.capacity, m.used, m.offered, m.revocable, m.tasks, m.frameworks)
	m.offerToLaunch = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "agora", Subsystem: "master", Name: "offer_to_launch_seconds",
		Help: "Time from an offer to the accept that launched tasks on it.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}) // 0.5 ms .. 131 s
	m.updateLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "agora", Subsystem: "master", Name: "status_update_latency_seconds",
		Help: "Time from an agent stamping a status update to the master taking it (includes clock skew between the hosts).", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)})
	reg.MustRegister(m.offerToLaunch, m.updateLatency)
	reg.MustRegister(m.offers, m.rescinds, m.declines, m.launched, m.statusUpdates)
	reg.MustRegister(m.agents, m.registrations, m.reregistrations, m.reregRetries, m.heartbeats, m.heartbeatsHanded, m.unreachableEvents, m.rejected, m.heartbeatInterval)
	return m
}

// setRoles replaces the per-role gauges with a snapshot's role usage.
func (m *Metrics) setRoles(usage []*messages.RoleUsage) {
	m.roleUsed.Reset()
	m.roleGuarantee.Reset()
	m.roleRevocable.Reset()
	add := func(g *prometheus.GaugeVec, role string, rs []*messages.Resource) {
		for _, r := range rs {
			if r.Scalar != 0 {
				v, unit := messages.InBaseUnit(r.Name, r.Scalar)
				g.WithLabelValues(role, r.Name, unit).Add(v)
			}
		}
	}
	for _, u := range usage {
		add(m.roleUsed, u.Role, u.Used)
		add(m.roleGuarantee, u.Role, u.Guarantee)
		add(m.roleRevocable, u.Role, u.RevocableUsed)
	}
}

// setCluster sets the gauges a snapshot gives: cluster totals.
func (m *Metrics) setCluster(st *messages.MasterState) {
	for _, g := range []*prometheus.GaugeVec{m.capacity, m.used, m.offered, m.revocable} {
		g.Reset()
	}
	add := func(g *prometheus.GaugeVec, rs []*messages.Resource) {
		for _, r := range rs {
			if r.Scalar != 0 {
				v, unit := messages.InBaseUnit(r.Name, r.Scalar)
				g.WithLabelValues(r.Name, unit).Add(v)
			}
		}
	}
	totals := clusterTotals(st)
	add(m.capacity, totals.Capacity)
	add(m.used, totals.Used)
	add(m.offered, totals.Offered)
	add(m.revocable, totals.Revocable)
}

// setCounts sets the gauges the books count: agents by liveness,
// frameworks (each state present, at 0 too, for alerts) and live tasks by
// state (a state no task is in has no series).
func (m *Metrics) setCounts(n core.Counts, interval time.Duration) {
	m.agents.WithLabelValues("reachable").Set(float64(n.Reachable))
	m.agents.WithLabelValues("unreachable").Set(float64(n.Agents - n.Reachable))
	m.heartbeatInterval.Set(interval.Seconds())
	m.frameworks.WithLabelValues("connected").Set(float64(n.Connected))
	m.frameworks.WithLabelValues("disconnected").Set(float64(n.Disconnected))
	m.frameworks.WithLabelValues("tearing_down").Set(float64(n.TearingDown))
	if m.taskStates == nil {
		m.taskStates = map[messages.TaskState]bool{}
	}
	for state := range m.taskStates {
		if _, ok := n.Tasks[state]; !ok {
			m.tasks.DeleteLabelValues(state.String())
			delete(m.taskStates, state)
		}
	}
	for state, k := range n.Tasks {
		m.tasks.WithLabelValues(state.String()).Set(float64(k))
		m.taskStates[state] = true
	}
}

// Observe implements core.Metrics.
func (m *Metrics) Observe(h core.Histogram, d time.Duration) {
	switch h {
	case core.OfferToLaunch:
		m.offerToLaunch.Observe(d.Seconds())
	case core.StatusUpdateLatency:
		m.updateLatency.Observe(max(d, 0).Seconds()) // a skewed clock can put the stamp ahead
	}
}

// ReregistrationRetries is how many re-registration retries of an
// admission already taken this master has had (answered or ignored):
// what a rebuild after a failover spent on agents retrying.
func (m *Metrics) ReregistrationRetries() int64 { return m.retries.Load() }

// Count implements core.Metrics.
func (m *Metrics) Count(c core.Counter, label string, n int) {
	v := float64(n)
	switch c {
	case core.Registrations:
		m.registrations.Add(v)
	case core.Reregistrations:
		m.reregistrations.Add(v)
	case core.ReregistrationRetries:
		m.reregRetries.Add(v)
		m.retries.Add(int64(n))
	case core.Heartbeats:
		m.heartbeats.Add(v)
	case core.UnreachableEvents:
		m.unreachableEvents.Add(v)
	case core.Rejected:
		m.rejected.WithLabelValues(label).Add(v)
	case core.OffersSent:
		m.offers.Add(v)
	case core.OffersRescinded:
		m.rescinds.Add(v)
	case core.OffersDeclined:
		m.declines.Add(v)
	case core.TasksLaunched:
		m.launched.Add(v)
	case core.StatusUpdates:
		m.statusUpdates.WithLabelValues(label).Add(v)
	case core.Preemptions:
		m.preemptions.WithLabelValues(label).Add(v)
	case core.PermissionDenied:
		m.permissionDenied.WithLabelValues(label).Add(v)
	case core.LimitExceeded:
		m.limitExceeded.WithLabelValues(label).Add(v)
	case core.AgentsRemoved:
		m.agentsRemoved.Add(v)
	}
}

// heartbeatHanded counts a heartbeat an agent's handler handed to the
// master.
func (m *Metrics) heartbeatHanded() { m.heartbeatsHanded.Inc() }

// ACLsLoaded counts a change of the access control list's source: applied
// (true), or refused and the list in force kept (false).
func (m *Metrics) ACLsLoaded(applied bool) {
	result := "refused"
	if applied {
		result = "applied"
	}
	m.aclLoads.WithLabelValues(result).Inc()
}
