package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
	"github.com/jonboulle/clockwork"
)

// detectWait is how long a detector's blocking query waits for a change.
const detectWait = 30 * time.Second

// ConsulDetector watches a cluster's lock key with blocking queries, so a
// new leader is seen within one round trip of its election.
type ConsulDetector struct {
	client *api.Client
	key    string
	log    *slog.Logger
	clock  clockwork.Clock
}

// NewConsulDetector watches cluster's leader through client.
func NewConsulDetector(client *api.Client, cluster string, logger *slog.Logger) *ConsulDetector {
	if logger == nil {
		logger = slog.Default()
	}
	return &ConsulDetector{client: client, key: Key(cluster), log: logger.With("component", "detector", "key", Key(cluster)), clock: clockwork.NewRealClock()}
}

// Detect implements Detector.
func (d *ConsulDetector) Detect(ctx context.Context, previous *messages.MasterInfo) (*messages.MasterInfo, error) {
	var index uint64
	var lastErr error
	retry := 100 * time.Millisecond
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, detectWait+detectWait/16+5*time.Second)
		pair, meta, err := d.client.KV().Get(d.key, (&api.QueryOptions{WaitIndex: index, WaitTime: detectWait}).WithContext(qctx))
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				if lastErr == nil {
					d.log.Warn("leader detection: Consul query failed; retrying with backoff", "err", err)
				}
				lastErr = err
				sleep(ctx, d.clock, retry)
				retry = min(2*retry, 5*time.Second)
			}
			continue
		}
		if lastErr != nil {
			d.log.Info("leader detection: Consul answers again")
			lastErr = nil
		}
		retry = 100 * time.Millisecond
		if meta.LastIndex < index {
			index = 0 // the index went backwards (Consul restored): start over
		} else {
			index = meta.LastIndex
		}
		var info *messages.MasterInfo
		if pair != nil {
			info = Decode(pair.Value, pair.Session)
		}
		if !Same(info, previous) {
			return info, nil
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("no leading master found in Consul key %s: %w (last error: %v)", d.key, ctx.Err(), lastErr)
	}
	return nil, fmt.Errorf("no leading master found in Consul key %s: %w", d.key, ctx.Err())
}

// Static is a Detector for a single master at a fixed remoting address: it
// always leads, with epoch 0 (unknown).
type Static string

// Detect implements Detector.
func (s Static) Detect(ctx context.Context, previous *messages.MasterInfo) (*messages.MasterInfo, error) {
	info := &messages.MasterInfo{Address: string(s)}
	if !Same(info, previous) {
		return info, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// Spec says where the leader is found: --master and --election take it
// as host:port (a single master's remoting address) or
// consul://host:port/<cluster>.
type Spec struct {
	// Static is a master's remoting address host:port.
	Static string
	// Consul is a Consul agent's HTTP address host:port and Cluster the
	// name under agora/ in its KV store.
	Consul, Cluster string
}

// Parse reads a Spec.
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

// ConsulClient is a client for the spec's Consul agent (NewConsulClient).
func (s Spec) ConsulClient() (*api.Client, error) {
	if s.Consul == "" {
		return nil, errors.New("not a consul:// address")
	}
	return NewConsulClient(s.Consul)
}

// Detector is the spec's detector: Static, or a ConsulDetector.
func (s Spec) Detector(logger *slog.Logger) (Detector, error) {
	if s.Static != "" {
		return Static(s.Static), nil
	}
	client, err := s.ConsulClient()
	if err != nil {
		return nil, err
	}
	return NewConsulDetector(client, s.Cluster, logger), nil
}
