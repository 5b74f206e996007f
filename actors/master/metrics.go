package master

import "github.com/prometheus/client_golang/prometheus"

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
	reg.MustRegister(m.offers, m.rescinds, m.declines, m.launched, m.statusUpdates)
	reg.MustRegister(m.agents, m.registrations, m.reregistrations, m.heartbeats, m.unreachableEvents, m.rejected, m.heartbeatInterval)
	return m
}
