package master

import (
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
	heartbeats        prometheus.Counter
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
	limitExceeded     *prometheus.CounterVec
	agentsRemoved     prometheus.Counter
}

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
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "master", Name: "agent_heartbeats_total", Help: "Agent heartbeats received.",
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
	m.roleUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "role_used", Help: "Resources used by live tasks, by role and resource (mem and disk in MB)."}, []string{"role", "resource"})
	m.roleGuarantee = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "role_guarantee", Help: "Configured guarantee, by role and resource."}, []string{"role", "resource"})
	m.roleRevocable = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "role_revocable_used", Help: "Resources used by revocable tasks, by role and resource."}, []string{"role", "resource"})
	m.limitExceeded = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "limit_exceeded_total", Help: "Requests refused by one of the master's limits, by the flag that raises it."}, []string{"limit"})
	m.agentsRemoved = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "agents_removed_total", Help: "Agents removed after --agent-unreachable-timeout."})
	reg.MustRegister(m.limitExceeded, m.agentsRemoved)
	reg.MustRegister(m.preemptions, m.roleUsed, m.roleGuarantee, m.roleRevocable)
	reg.MustRegister(m.offers, m.rescinds, m.declines, m.launched, m.statusUpdates)
	reg.MustRegister(m.agents, m.registrations, m.reregistrations, m.heartbeats, m.unreachableEvents, m.rejected, m.heartbeatInterval)
	return m
}

// setRoles replaces the per-role gauges with a snapshot's role usage.
func (m *Metrics) setRoles(usage []*messages.RoleUsage) {
	m.roleUsed.Reset()
	m.roleGuarantee.Reset()
	m.roleRevocable.Reset()
	for _, u := range usage {
		for _, r := range u.Used {
			m.roleUsed.WithLabelValues(u.Role, r.Name).Add(r.Scalar)
		}
		for _, r := range u.Guarantee {
			m.roleGuarantee.WithLabelValues(u.Role, r.Name).Add(r.Scalar)
		}
		for _, r := range u.RevocableUsed {
			m.roleRevocable.WithLabelValues(u.Role, r.Name).Add(r.Scalar)
		}
	}
}

// Count implements core.Metrics.
func (m *Metrics) Count(c core.Counter, label string, n int) {
	v := float64(n)
	switch c {
	case core.Registrations:
		m.registrations.Add(v)
	case core.Reregistrations:
		m.reregistrations.Add(v)
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
	case core.LimitExceeded:
		m.limitExceeded.WithLabelValues(label).Add(v)
	case core.AgentsRemoved:
		m.agentsRemoved.Add(v)
	}
}

// setAgents sets the agent gauges.
func (m *Metrics) setAgents(known, reachable int, interval time.Duration) {
	m.agents.WithLabelValues("reachable").Set(float64(reachable))
	m.agents.WithLabelValues("unreachable").Set(float64(known - reachable))
	m.heartbeatInterval.Set(interval.Seconds())
}
