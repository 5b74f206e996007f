// Package detect is the former home of leader detection, kept while its
// last callers move: use cluster/leader (leader.Parse, Spec.Detector,
// leader.Watch) instead.
//
// Deprecated: use github.com/agora-sched/agora/cluster/leader.
package detect

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
)

// Spec says where the leader is found (leader.Spec).
type Spec = leader.Spec

// Parse reads --master: host:port or consul://host:port/<cluster>.
func Parse(s string) (Spec, error) { return leader.Parse(s) }

// Watch calls found with every new leader until ctx ends.
func Watch(ctx context.Context, spec Spec, logger *slog.Logger, found func(*messages.MasterInfo)) {
	d, err := spec.Detector(logger)
	if err != nil {
		logger.Error("leader detection cannot start", "err", err)
		return
	}
	leader.Watch(ctx, d, func(info *messages.MasterInfo) {
		if info != nil {
			found(info)
		}
	})
}

// Leader returns the current leader once, waiting up to ctx for one.
func Leader(ctx context.Context, spec Spec) (*messages.MasterInfo, error) {
	return WaitLeader(ctx, spec, func(*messages.MasterInfo) bool { return true })
}

// WaitLeader waits until the leader satisfies ok and returns it.
func WaitLeader(ctx context.Context, spec Spec, ok func(*messages.MasterInfo) bool) (*messages.MasterInfo, error) {
	if spec.Static != "" {
		return &messages.MasterInfo{Address: spec.Static}, nil
	}
	// One-shot callers must not leave pooled connections behind: Consul
	// limits concurrent connections per client address.
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = spec.Consul
	cfg.HttpClient = &http.Client{Transport: cfg.Transport, Timeout: time.Minute}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	d := leader.NewConsulDetector(client, spec.Cluster, slog.New(slog.DiscardHandler))
	var info *messages.MasterInfo
	for {
		if info, err = d.Detect(ctx, info); err != nil {
			return nil, err
		}
		if info != nil && ok(info) {
			return info, nil
		}
	}
}
