package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/health"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/mastership"
	"github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/kvconfig"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/docker/go-units"
	"github.com/hashicorp/consul/api"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// masterRole runs the master side of a node: leading at once (a single
// master), or contending for leadership through Consul and standing by
// until elected (actors/mastership does both).
type masterRole struct {
	c        *nodeCmd
	node     *remoting.Node
	logger   *slog.Logger
	clock    clockwork.Clock
	liveness master.LivenessPolicy
	pub      *master.Publisher
	info     *messages.MasterInfo
	metrics  *master.Metrics
	aMetrics *allocation.Metrics
	consul   *api.Client
	cluster  string
	seat     *mastership.Seat
	access   *accessControl

	loadRoles func() (*messages.RoleConfig, error)
	saveRoles func(context.Context, *messages.RoleConfig) error
	// The maintenance schedule is kept where the roles are.
	loadMaintenance func() (*messages.MaintenanceSchedule, error)
	saveMaintenance func(context.Context, *messages.MaintenanceSchedule) error
}

func newMasterRole(c *nodeCmd, node *remoting.Node, logger *slog.Logger, clock clockwork.Clock, liveness master.LivenessPolicy,
	reg *prometheus.Registry, info *messages.MasterInfo) (*masterRole, error) {
	m := &masterRole{c: c, node: node, logger: logger, clock: clock, liveness: liveness, pub: &master.Publisher{}, info: info,
		metrics: master.NewMetrics(reg), aMetrics: allocation.NewMetrics(reg)}
	warm, err := warmHeap(c.StandbyWarmHeap)
	if err != nil {
		return nil, err
	}
	m.seat = mastership.New(mastership.Config{System: node.System, Info: info, Term: m.term, Standby: c.Election != "",
		Clock: clock, Logger: logger, Registerer: reg, WarmHeap: warm})
	if c.Election == "" {
		path := filepath.Join(c.WorkDir, "master", "roles.json")
		m.loadRoles = func() (*messages.RoleConfig, error) { return master.LoadRolesFile(path) }
		m.saveRoles = master.SaveRolesFile(path)
		mpath := filepath.Join(c.WorkDir, "master", "maintenance.json")
		m.loadMaintenance = func() (*messages.MaintenanceSchedule, error) { return master.LoadMaintenanceFile(mpath) }
		m.saveMaintenance = master.SaveMaintenanceFile(mpath)
		return m, m.loadAccess()
	}
	spec, err := leader.Parse(c.Election)
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
	mkey := kvconfig.MaintenanceKey(spec.Cluster)
	m.loadMaintenance = func() (*messages.MaintenanceSchedule, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return kvconfig.LoadMaintenance(ctx, m.consul, mkey)
	}
	m.saveMaintenance = kvconfig.SaveMaintenance(m.consul, mkey)
	return m, m.loadAccess()
}

func (m *masterRole) loadAccess() (err error) {
	m.access, err = newAccessControl(m)
	return err
}

// run leads at once without election, or campaigns until ctx ends; done
// is closed when the campaign has ended (the lock given up).
func (m *masterRole) run(ctx context.Context) (done <-chan struct{}, err error) {
	if err := m.access.run(ctx); err != nil {
		return nil, err
	}
	// The web UI's charts and timeline: kept from the snapshots, off the
	// master actor, for as long as this node runs.
	go m.pub.Record(ctx)
	ended := make(chan struct{})
	if m.consul == nil {
		close(ended)
		return ended, m.seat.Lead(1)
	}
	contender, err := leader.NewConsulContender(leader.ConsulConfig{Client: m.consul, Cluster: m.cluster, Info: m.info,
		CheckTTL: m.c.ElectionTTL, LockDelay: m.c.LockDelay, Clock: m.clock, Logger: m.logger})
	if err != nil {
		return nil, fmt.Errorf("--election: %w", err)
	}
	go func() {
		defer close(ended)
		m.seat.Run(ctx, contender, leader.NewConsulDetector(m.consul, m.cluster, m.logger))
	}()
	return ended, nil
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

// term configures the master and allocator actors of a term led as info.
func (m *masterRole) term(info *messages.MasterInfo) (master.Config, allocation.Config, error) {
	roles, err := m.loadRoles()
	if err != nil {
		return master.Config{}, allocation.Config{}, err
	}
	maintenance, err := m.loadMaintenance()
	if err != nil {
		return master.Config{}, allocation.Config{}, err
	}
	pol, err := m.newPolicy()
	if err != nil {
		return master.Config{}, allocation.Config{}, err
	}
	limits, err := m.c.limits()
	if err != nil {
		return master.Config{}, allocation.Config{}, err
	}
	reregister := time.Duration(0)
	if m.consul != nil {
		reregister = m.c.AgentReregisterTimeout
	}
	return master.Config{
			Info: info, Clock: m.clock, Logger: m.logger, Liveness: m.liveness, Publisher: m.pub, Metrics: m.metrics,
			OfferTimeout: m.c.OfferTimeout, FrameworkHeartbeat: m.c.FrameworkHeartbeat, Roles: roles, SaveRoles: m.saveRoles, ACLs: m.access.list(),
			ReclaimInterval: m.c.ReclaimInterval, PreemptionGrace: m.c.PreemptionGrace, AgentReregisterTimeout: reregister,
			Limits: limits, Maintenance: maintenance, SaveMaintenance: m.saveMaintenance,
		}, allocation.Config{
			Policy: pol, Master: info.Pid, Clock: m.clock, Logger: m.logger, Interval: m.c.AllocationInterval, Metrics: m.aMetrics,
		}, nil
}

// httpHandler serves the API while leading and redirects (307) to the
// leader otherwise; /metrics is always this node's own.
func (m *masterRole) httpHandler(api, metrics http.Handler) http.Handler {
	return m.seat.Handler(api, metrics)
}

// health probes the actors of this master: the term's master and
// allocator while leading, the standby otherwise. One that stopped (a
// PoisonPill, a crash) or is stuck fails the probe, and the error names it.
func (m *masterRole) health(ctx context.Context) error {
	root := m.node.System.Root
	if m.seat.Leading() {
		return health.Check(ctx, root, health.Actor{Name: "master", PID: m.seat.Master()}, health.Actor{Name: "allocator", PID: m.seat.Allocator()})
	}
	return health.Check(ctx, root, health.Actor{Name: "standby master", PID: m.node.System.NewLocalPID(master.Name)})
}

// update sends a role change to the leading master actor.
func (m *masterRole) update(ctx context.Context, u *messages.UpdateRole) (*messages.RoleConfig, error) {
	res, err := m.ask(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("master did not answer: %w", err)
	}
	switch res := res.(type) {
	case *messages.RoleConfig:
		return res, nil
	case *messages.Error:
		return nil, &master.Refused{Code: res.Code, Message: res.Message}
	}
	return nil, fmt.Errorf("unexpected answer %T", res)
}

// lookup asks the leading master actor where a task is.
func (m *masterRole) lookup(ctx context.Context, q *messages.GetTask) (*messages.TaskLocation, error) {
	res, err := m.ask(ctx, q)
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

// ask sends msg to the leading master actor on behalf of the HTTP client
// that asked: its certificate's identity goes along as the message header
// remoting stamps on a remote sender's messages, so the master's core
// checks an operator as it checks any peer. It waits for the answer.
func (m *masterRole) ask(ctx context.Context, msg proto.Message) (any, error) {
	f := actor.NewFuture(m.node.System, 10*time.Second)
	env := &actor.MessageEnvelope{Message: msg, Sender: f.PID()}
	if id, ok := security.IdentityFrom(ctx); ok {
		env.Header = id.Header()
	}
	m.node.System.Root.Send(m.info.Pid, env)
	return f.Result()
}

// warmHeap reads --standby-warm-heap: a size, at most the machine's
// memory.
func warmHeap(size string) (int, error) {
	if size == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(size)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--standby-warm-heap %q: want a size such as 800MB, or 0 for none", size)
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err == nil {
		if total := int64(si.Totalram) * int64(si.Unit); n > total {
			return 0, fmt.Errorf("--standby-warm-heap %s is more than this machine's %s of memory: give about the leader's resident memory", size, units.BytesSize(float64(total)))
		}
	}
	// The warm heap is live while the standby stands by: under a memory
	// limit it does not leave room below, the collector would run without
	// end.
	if limit := debug.SetMemoryLimit(-1); n > 0 && n >= limit/2 {
		return 0, fmt.Errorf("--standby-warm-heap %s is half or more of the Go memory limit (GOMEMLIMIT) of %s: the standby's collector would run without pause; lower it or raise GOMEMLIMIT", size, units.BytesSize(float64(limit)))
	}
	return int(n), nil
}
