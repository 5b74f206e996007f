package mesosapi

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/agora-sched/agora/cluster/acl"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// flagsAndMetrics answers GET_FLAGS (the master's command-line flags, by
// their Agora names) and GET_METRICS (what /metrics serves, one Metric per
// series, named as in Prometheus' text format: name{label="value",...};
// a histogram or summary as its _count and _sum). Both need view_state, as
// Mesos' authorizes them with view_flags and the metrics endpoint.
func (s *OperatorServer) flagsAndMetrics(w http.ResponseWriter, r *http.Request, in Codec, call *mmaster.Call) {
	if !s.cfg.Access.Allows(w, r, acl.ViewState) {
		return
	}
	res := &mmaster.Response{}
	switch call.GetType() {
	case mmaster.Call_GET_FLAGS:
		if s.cfg.Flags == nil {
			http.Error(w, fmt.Sprintf("%s: GET_FLAGS on this master", ErrUnsupported), http.StatusBadRequest)
			return
		}
		res.Type, res.GetFlags = mmaster.Response_GET_FLAGS.Enum(), &mmaster.Response_GetFlags{Flags: flagsOut(s.cfg.Flags())}
	case mmaster.Call_GET_METRICS:
		if s.cfg.Metrics == nil {
			http.Error(w, fmt.Sprintf("%s: GET_METRICS on this master", ErrUnsupported), http.StatusBadRequest)
			return
		}
		metrics, err := metricsOut(s.cfg.Metrics)
		if err != nil {
			s.cfg.Logger.Warn("GET_METRICS: some metrics could not be gathered", "err", err)
		}
		res.Type, res.GetMetrics = mmaster.Response_GET_METRICS.Enum(), &mmaster.Response_GetMetrics{Metrics: metrics}
	}
	s.respond(w, r, in, res)
}

func flagsOut(flags map[string]string) []*mesos.Flag {
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*mesos.Flag, len(names))
	for i, n := range names {
		out[i] = &mesos.Flag{Name: proto.String(n), Value: proto.String(flags[n])}
	}
	return out
}

// metricsOut gathers g as Mesos metrics. Gathering errors still return
// what was gathered, as Mesos answers with the metrics it got in time.
func metricsOut(g prometheus.Gatherer) ([]*mesos.Metric, error) {
	families, err := g.Gather()
	var out []*mesos.Metric
	add := func(name string, labels []*dto.LabelPair, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return // JSON has no such number; Mesos never reports one
		}
		out = append(out, &mesos.Metric{Name: proto.String(seriesName(name, labels)), Value: proto.Float64(v)})
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				add(f.GetName(), m.GetLabel(), m.GetCounter().GetValue())
			case m.Gauge != nil:
				add(f.GetName(), m.GetLabel(), m.GetGauge().GetValue())
			case m.Untyped != nil:
				add(f.GetName(), m.GetLabel(), m.GetUntyped().GetValue())
			case m.Histogram != nil:
				add(f.GetName()+"_count", m.GetLabel(), float64(m.GetHistogram().GetSampleCount()))
				add(f.GetName()+"_sum", m.GetLabel(), m.GetHistogram().GetSampleSum())
			case m.Summary != nil:
				add(f.GetName()+"_count", m.GetLabel(), float64(m.GetSummary().GetSampleCount()))
				add(f.GetName()+"_sum", m.GetLabel(), m.GetSummary().GetSampleSum())
			}
		}
	}
	return out, err
}

// seriesName is a series as Prometheus' text format names it.
func seriesName(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.GetName(), l.GetValue())
	}
	b.WriteByte('}')
	return b.String()
}
