package testkit

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/mastership"
	"github.com/agora-sched/agora/actors/scheduler"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// leadership is how a testkit cluster leads: the binary's seat
// (actors/mastership) elected in an in-memory election where the
// cluster's master is the only contender, so each term starts at once,
// with the next epoch.
type leadership struct {
	election   leader.Group
	contender  leader.Contender
	seat       *mastership.Seat
	term       *leader.Term
	epoch      uint64
	nextPolicy policy.Allocator // the next term's policy; nil: a new one
}

func newLeadership(c *Cluster) *leadership {
	info := &messages.MasterInfo{Id: "testkit", Address: c.System.Address()}
	l := &leadership{}
	l.contender = l.election.Contender(info)
	l.seat = mastership.New(mastership.Config{System: c.System, Info: info, Term: c.termConfig, Clock: c.opts.Clock, Logger: c.logger,
		Stop: c.stopActors})
	return l
}

// termConfig configures a term's master and allocator as the options say.
func (c *Cluster) termConfig(info *messages.MasterInfo) (master.Config, allocation.Config, error) {
	opts := c.opts
	pol := c.nextPolicy
	c.nextPolicy = nil
	if pol == nil {
		if opts.NewPolicy != nil {
			pol = opts.NewPolicy()
		} else {
			pol, _ = policy.New("drf", policy.Options{Seed: 1})
		}
	}
	reregister := time.Duration(0)
	if info.Epoch > 1 {
		reregister = opts.AgentReregisterTimeout
	}
	// Each term's master has an ID of its own, as each master process
	// has: AgentIDs it hands out start with it.
	minfo := &messages.MasterInfo{Id: fmt.Sprintf("testkit-%d", info.Epoch), Address: info.Address, Epoch: info.Epoch}
	c.MasterRegistry = prometheus.NewRegistry()
	c.MasterMetrics = master.NewMetrics(c.MasterRegistry)
	return master.Config{
			Info: minfo, Liveness: *opts.Liveness, Publisher: c.Publisher, Metrics: c.MasterMetrics,
			Logger: c.logger, OfferTimeout: opts.OfferTimeout,
			ReclaimInterval: opts.ReclaimInterval, PreemptionGrace: opts.PreemptionGrace, AgentReregisterTimeout: reregister,
			PublishInterval: opts.PublishInterval, Roles: opts.Roles,
			// Snapshot timing must not depend on how fast this machine is.
			FixedPublishInterval: true,
			ActorOptions:         append([]actor.PropsOption{actor.WithSenderMiddleware(opts.MasterSenderMiddleware...)}, c.actorOpts...),
		}, allocation.Config{
			Policy: pol, Logger: c.logger, Interval: opts.AllocationInterval, Metrics: c.AllocatorMetrics, ActorOptions: c.actorOpts,
		}, nil
}

// stopActors stops a term's actors: on a serial cluster nothing else runs
// them, so it runs their stopping.
func (c *Cluster) stopActors(pids ...*actor.PID) {
	if c.serial != nil {
		for _, pid := range pids {
			c.System.Root.Stop(pid)
		}
		c.Drain()
		return
	}
	for _, pid := range pids {
		_ = c.System.Root.StopFuture(pid).Wait()
	}
}

// startLeader elects the cluster's master for the next term and starts
// its actors.
func (c *Cluster) startLeader() (uint64, error) {
	term, err := c.contender.Campaign(context.Background())
	if err != nil {
		return 0, fmt.Errorf("testkit: %w", err)
	}
	if err := c.seat.Lead(term.Epoch()); err != nil {
		term.Resign()
		return 0, fmt.Errorf("testkit: start the master: %w", err)
	}
	if err := term.Announce(context.Background()); err != nil {
		c.seat.StepDown(err)
		term.Resign()
		return 0, fmt.Errorf("testkit: %w", err)
	}
	c.term, c.epoch = term, term.Epoch()
	c.Master, c.Allocator = c.seat.Master(), c.seat.Allocator()
	return c.epoch, nil
}

// FailoverMaster replaces the leading master as a failover does: the master
// and allocator stop (their books are gone), a new master with the next
// epoch and a new allocator start empty, and every agent and scheduler is
// told of the new leader, as leader detection would, so they re-register
// and subscribe again. It returns the new epoch.
func (c *Cluster) FailoverMaster(t TB) uint64 {
	t.Helper()
	c.StopMaster(t)
	return c.StartMaster(t)
}

// StopMaster stops the leading master and its allocator, as a crash would.
func (c *Cluster) StopMaster(t TB) {
	t.Helper()
	if err := c.StopLeader(); err != nil {
		t.Fatal(err)
	}
}

// StartMaster starts a new, empty leading master with the next epoch after
// StopMaster and announces it. It returns the new epoch.
func (c *Cluster) StartMaster(t TB) uint64 {
	t.Helper()
	epoch, err := c.StartLeader()
	if err != nil {
		t.Fatal(err)
	}
	return epoch
}

// StopLeader is StopMaster for callers without a TB (simulations): the
// term ends as a lost session would end it.
func (c *Cluster) StopLeader() error {
	if c.opts.Policy != nil && c.opts.NewPolicy == nil {
		return fmt.Errorf("testkit: a cluster given Options.Policy needs Options.NewPolicy to fail over")
	}
	if c.term == nil {
		return fmt.Errorf("testkit: no master leads")
	}
	c.election.Depose()
	c.seat.StepDown(c.term.Err())
	c.term = nil
	return nil
}

// StartLeader is StartMaster for callers without a TB.
func (c *Cluster) StartLeader() (uint64, error) {
	epoch, err := c.startLeader()
	if err != nil {
		return 0, err
	}
	c.AnnounceLeader()
	return epoch, nil
}

// AnnounceLeader tells every agent and scheduler the current leader, as
// leader detection does (again after a partition heals, for example).
func (c *Cluster) AnnounceLeader() {
	for _, a := range c.Agents {
		c.System.Root.Send(a, agent.MasterDetected{Master: c.Master, Epoch: c.epoch})
	}
	c.mu.Lock()
	var scheds []*actor.PID
	names := make([]string, 0, len(c.schedulers))
	for name := range c.schedulers {
		names = append(names, name)
	}
	slices.Sort(names) // in a fixed order: simulations replay
	for _, name := range names {
		scheds = append(scheds, c.schedulers[name]...)
	}
	c.mu.Unlock()
	for _, s := range scheds {
		c.System.Root.Send(s, scheduler.MasterDetected{Master: c.Master, Epoch: c.epoch})
	}
}

// AnnounceLeaderTo tells one agent the current leader, as its leader
// detection would (after a partition heals, for example).
func (c *Cluster) AnnounceLeaderTo(agentPID *actor.PID) {
	c.System.Root.Send(agentPID, agent.MasterDetected{Master: c.Master, Epoch: c.epoch})
}
