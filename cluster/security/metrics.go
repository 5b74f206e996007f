package security

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Metrics counts what this node refused, by transport and reason.
type Metrics struct {
	refused *prometheus.CounterVec
}

// NewMetrics registers agora_security_refused_total on reg (nil: counted
// only).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agora_security_refused_total",
		Help: "Connections and messages refused: a handshake without a valid certificate, a spoofed sender, a message type outside Agora's protocol (remote Stop, PoisonPill), an address claimed by two identities.",
	}, []string{"transport", "reason"})}
	if reg != nil {
		reg.MustRegister(m.refused)
	}
	return m
}

// Refuse counts one refusal (m may be nil).
func (m *Metrics) Refuse(transport, reason string) {
	if m == nil {
		return
	}
	m.refused.WithLabelValues(transport, reason).Inc()
}

// Refused is how many refusals of transport and reason were counted.
func (m *Metrics) Refused(transport, reason string) float64 {
	if m == nil {
		return 0
	}
	var pb dto.Metric
	_ = m.refused.WithLabelValues(transport, reason).Write(&pb)
	return pb.GetCounter().GetValue()
}
