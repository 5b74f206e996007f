// Package detect finds the leading master for agents, schedulers and the
// CLI: a fixed host:port (a single master, the embedded default), or the
// holder of the cluster's Consul lock (consul://host:port/<cluster>),
// watched with blocking queries so a new leader is seen within one round
// trip of its election.
package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/agora-sched/agora/cluster/election"
	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

// Spec says where the leader is found.
type Spec struct {
	// Static is a master's remoting address host:port.
	Static string
	// Consul is the Consul HTTP address host:port and Cluster the name
	// under agora/ in its KV store.
	Consul, Cluster string
}

// Parse reads --master: host:port or consul://host:port/<cluster>.
func Parse(s string) (Spec, error) {
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return Spec{}, fmt.Errorf("master %q: want host:port or consul://host:port/<cluster>", s)
		}
		return Spec{Static: s}, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "consul" || u.Host == "" {
		return Spec{}, fmt.Errorf("master %q: want consul://host:port/<cluster>", s)
	}
	cluster := strings.Trim(u.Path, "/")
	if cluster == "" || strings.Contains(cluster, "/") {
		return Spec{}, fmt.Errorf("master %q: name the cluster: consul://%s/<cluster>", s, u.Host)
	}
	return Spec{Consul: u.Host, Cluster: cluster}, nil
}

// String is the spec as --master takes it.
func (s Spec) String() string {
	if s.Static != "" {
		return s.Static
	}
	return "consul://" + s.Consul + "/" + s.Cluster
}

// ConsulClient is a client for the spec's Consul agent.
func (s Spec) ConsulClient() (*api.Client, error) {
	if s.Consul == "" {
		return nil, errors.New("not a consul:// master address")
	}
	cfg := api.DefaultConfig()
	cfg.Address = s.Consul
	return api.NewClient(cfg)
}

// Watch calls found with every new leader until ctx ends. A static
// address is reported once, with epoch 0 (unknown).
func Watch(ctx context.Context, spec Spec, logger *slog.Logger, found func(*messages.MasterInfo)) {
	if spec.Static != "" {
		found(&messages.MasterInfo{Address: spec.Static})
		return
	}
	client, err := spec.ConsulClient()
	if err != nil {
		logger.Error("leader detection cannot start", "err", err)
		return
	}
	key := election.LeaderKey(spec.Cluster)
	var index uint64
	var last *messages.MasterInfo
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		pair, meta, err := client.KV().Get(key, (&api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx))
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("leader detection: Consul query failed; retrying", "consul", spec.Consul, "err", err, "retry_in", backoff)
				sleep(ctx, backoff)
				backoff = min(2*backoff, 5*time.Second)
			}
			continue
		}
		backoff = 100 * time.Millisecond
		if meta.LastIndex < index {
			index = 0 // the index went backwards (Consul restored): start over
		} else {
			index = meta.LastIndex
		}
		info := election.Decode(pair)
		if info != nil && !proto.Equal(info, last) {
			last = info
			found(info)
		}
	}
}

// Leader returns the current leader once, waiting up to ctx for one.
func Leader(ctx context.Context, spec Spec) (*messages.MasterInfo, error) {
	return WaitLeader(ctx, spec, func(*messages.MasterInfo) bool { return true })
}

// WaitLeader waits until the leader satisfies ok (for example: a leader
// other than one that failed) and returns it.
func WaitLeader(ctx context.Context, spec Spec, ok func(*messages.MasterInfo) bool) (*messages.MasterInfo, error) {
	if spec.Static != "" {
		return &messages.MasterInfo{Address: spec.Static}, nil
	}
	// One-shot callers (the CLI) must not leave pooled connections behind:
	// Consul limits concurrent connections per client address.
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = spec.Consul
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	key := election.LeaderKey(spec.Cluster)
	var index uint64
	for {
		pair, meta, err := client.KV().Get(key, (&api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}).WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("no leading master found at %s: %w", spec, err)
		}
		if info := election.Decode(pair); info != nil && ok(info) {
			return info, nil
		}
		index = meta.LastIndex
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
