package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/detect"
	"github.com/agora-sched/agora/cluster/election"
	"github.com/agora-sched/agora/cluster/kvconfig"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/consul/api"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// masterRole runs the master side of a node: leading at once (a single
// master), or contending for leadership through Consul and standing by
// until elected. A leader that loses its session steps down at once: its
// master and allocator actors stop (their books are soft state, rebuilt by
// the next leader) and a standby actor answers in their place.
type masterRole struct {
	c        *nodeCmd
	node     *remoting.Node
	logger   *slog.Logger
	clock    clockwork.Clock
	liveness master.LivenessPolicy
	pub      *master.Publisher
	info     *messages.MasterInfo // epoch set per term
	metrics  *master.Metrics
	aMetrics *allocation.Metrics
	consul   *api.Client
	cluster  string

	loadRoles func() (*messages.RoleConfig, error)
	saveRoles func(context.Context, *messages.RoleConfig) error

	mu      sync.Mutex // serializes lead and stepDown
	leading atomic.Bool
	leader  atomic.Pointer[messages.MasterInfo]
	alloc   *actor.PID
	self    *actor.PID
	standby *actor.PID
}

func newMasterRole(c *nodeCmd, node *remoting.Node, logger *slog.Logger, clock clockwork.Clock, liveness master.LivenessPolicy,
	reg *prometheus.Registry, info *messages.MasterInfo) (*masterRole, error) {
	m := &masterRole{c: c, node: node, logger: logger, clock: clock, liveness: liveness, pub: &master.Publisher{}, info: info,
		metrics: master.NewMetrics(reg), aMetrics: allocation.NewMetrics(reg)}
	if c.Election == "" {
		path := filepath.Join(c.WorkDir, "master", "roles.json")
		m.loadRoles = func() (*messages.RoleConfig, error) { return master.LoadRolesFile(path) }
		m.saveRoles = master.SaveRolesFile(path)
		return m, nil
	}
	spec, err := detect.Parse(c.Election)
	if err != nil || spec.Consul == "" {
		return nil, fmt.Errorf("--election %q: want consul://host:port/<cluster>", c.Election)
	}
	if m.consul, err = spec.ConsulClient(); err != nil {
		return nil, fmt.Errorf("--election: %w", err)
	}
	m.cluster = spec.Cluster
	key := kvconfig.RolesKey(spec.Cluster)
	m.loadRoles = func() (*messages.RoleConfig, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return kvconfig.LoadRoles(ctx, m.consul, key)
	}
	m.saveRoles = kvconfig.SaveRoles(m.consul, key)
	return m, nil
}

// run leads at once without election, or campaigns until ctx ends.
func (m *masterRole) run(ctx context.Context) error {
	if m.consul == nil {
		return m.lead(1)
	}
	m.spawnStandby()
	go func() {
		for ctx.Err() == nil {
			if m.campaign(ctx) {
				// Elected but could not lead: the lock was given up so
				// another master can; try again after a pause.
				wait(ctx, 5*time.Second)
			}
		}
	}()
	return nil
}

// campaign runs one election campaign until ctx ends or this master, once
// elected, cannot start leading: then it ends the campaign, which releases
// the lock, and reports true.
func (m *masterRole) campaign(ctx context.Context) (resigned bool) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan election.Event)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		err := election.Run(cctx, election.Config{
			Client: m.consul, Key: election.LeaderKey(m.cluster), Info: m.info,
			CheckTTL: m.c.ElectionTTL, LockDelay: m.c.LockDelay, Logger: m.logger,
		}, events)
		if err != nil && cctx.Err() == nil {
			m.logger.Error("election stopped; this master cannot lead", "err", err)
		}
	}()
	for {
		select {
		case <-ended:
			wait(ctx, time.Second) // Consul unreachable at start: retry
			return false
		case ev := <-events:
			if ev.Leader != nil {
				m.leader.Store(ev.Leader)
			}
			switch {
			case ev.Leading:
				if err := m.lead(ev.Epoch); err != nil {
					m.logger.Error("elected but cannot start leading; giving up the lock", "err", err)
					m.leader.Store(nil)
					cancel()
					<-ended
					return true
				}
			case m.leading.Load():
				m.stepDown()
			}
		}
	}
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (m *masterRole) newPolicy() (allocator.Allocator, error) {
	above, err := allocator.ParseRevocableAbove(m.c.RevocableAbove)
	if err != nil {
		return nil, fmt.Errorf("--revocable-above: %w", err)
	}
	pol, err := allocator.New(m.c.Allocator, allocator.Options{Seed: time.Now().UnixNano(), RevocableAbove: above})
	if err != nil {
		return nil, fmt.Errorf("--allocator: %w", err)
	}
	return pol, nil
}

// lead starts the allocator and master actors for a term with epoch.
func (m *masterRole) lead(epoch uint64) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Read what can fail before the standby gives up the master's name.
	roles, err := m.loadRoles()
	if err != nil {
		return err
	}
	if m.standby != nil {
		_ = m.node.System.Root.StopFuture(m.standby).Wait()
		m.standby = nil
	}
	defer func() {
		if err != nil && m.consul != nil {
			m.spawnStandbyLocked()
		}
	}()
	pol, err := m.newPolicy()
	if err != nil {
		return err
	}
	info := cloneInfo(m.info)
	info.Epoch = epoch
	sys := m.node.System
	m.alloc, err = sys.Root.SpawnNamed(allocation.Props(allocation.Config{
		Policy: pol, Master: info.Pid, Clock: m.clock, Logger: m.logger, Interval: m.c.AllocationInterval, Metrics: m.aMetrics,
	}), allocation.Name)
	if err != nil {
		return fmt.Errorf("spawn allocator: %w", err)
	}
	reregister := time.Duration(0)
	if m.consul != nil {
		reregister = m.c.AgentReregisterTimeout
	}
	m.self, err = sys.Root.SpawnNamed(master.Props(master.Config{
		Info: info, Clock: m.clock, Logger: m.logger, Liveness: m.liveness, Publisher: m.pub, Metrics: m.metrics,
		Allocator: m.alloc, OfferTimeout: m.c.OfferTimeout, FrameworkHeartbeat: m.c.FrameworkHeartbeat,
		Roles: roles, SaveRoles: m.saveRoles,
		ReclaimInterval: m.c.ReclaimInterval, PreemptionGrace: m.c.PreemptionGrace, AgentReregisterTimeout: reregister,
	}), master.Name)
	if err != nil {
		_ = sys.Root.StopFuture(m.alloc).Wait()
		return fmt.Errorf("spawn master: %w", err)
	}
	m.leader.Store(info)
	m.leading.Store(true)
	return nil
}

// stepDown stops acting as leader at once.
func (m *masterRole) stepDown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leading.Store(false)
	m.logger.Error("lost leadership: stopping the master and allocator; standing by")
	sys := m.node.System
	if m.self != nil {
		_ = sys.Root.StopFuture(m.self).Wait()
		m.self = nil
	}
	if m.alloc != nil {
		_ = sys.Root.StopFuture(m.alloc).Wait()
		m.alloc = nil
	}
	m.spawnStandbyLocked()
}

func (m *masterRole) spawnStandby() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spawnStandbyLocked()
}

func (m *masterRole) spawnStandbyLocked() {
	pid, err := m.node.System.Root.SpawnNamed(master.StandbyProps(&m.leader, m.logger), master.Name)
	if err != nil {
		m.logger.Error("cannot start the standby actor", "err", err)
		return
	}
	m.standby = pid
}

// httpHandler serves the API while leading and redirects (307) to the
// leader otherwise; /metrics is always this node's own.
func (m *masterRole) httpHandler(api, metrics http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			metrics.ServeHTTP(w, r)
			return
		}
		if m.leading.Load() {
			api.ServeHTTP(w, r)
			return
		}
		l := m.leader.Load()
		if l == nil || l.HttpAddress == "" || l.Id == m.info.Id {
			http.Error(w, "this master is a standby and no leader is elected yet; retry shortly", http.StatusServiceUnavailable)
			return
		}
		u := *r.URL
		u.Scheme, u.Host = "http", l.HttpAddress
		http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
	})
}

// update sends a role change to the leading master actor.
func (m *masterRole) update(ctx context.Context, u *messages.UpdateRole) (*messages.RoleConfig, error) {
	res, err := m.node.System.Root.RequestFuture(m.info.Pid, u, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("master did not answer: %w", err)
	}
	switch res := res.(type) {
	case *messages.RoleConfig:
		return res, nil
	case *messages.Error:
		return nil, errors.New(res.Message)
	}
	return nil, fmt.Errorf("unexpected answer %T", res)
}

func cloneInfo(i *messages.MasterInfo) *messages.MasterInfo {
	return proto.Clone(i).(*messages.MasterInfo)
}

// lookup asks the leading master actor where a task is.
func (m *masterRole) lookup(ctx context.Context, q *messages.GetTask) (*messages.TaskLocation, error) {
	res, err := m.node.System.Root.RequestFuture(m.info.Pid, q, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("master did not answer: %w", err)
	}
	switch res := res.(type) {
	case *messages.TaskLocation:
		return res, nil
	case *messages.Error:
		return nil, errors.New(res.Message)
	}
	return nil, fmt.Errorf("unexpected answer %T", res)
}
