package core

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Limits bound what peers can make the master keep: no certificate holder
// (a fake or compromised agent, a runaway framework) can grow its books
// without end. A request over a limit is answered LIMIT_EXCEEDED with the
// limit and the flag that raises it, logged, and counted
// (LimitExceeded, labelled by the limit's flag).
//
// A zero field is no limit (but for the ceilings on agents and roles, where
// resource sums stay exact): tests and embedders opt in; the master node
// starts with DefaultLimits.
type Limits struct {
	// MaxAgents bounds the agents the books hold, reachable or not. New
	// agents are refused past it; so are re-registrations with IDs the
	// books do not know (after a failover every agent has one). Zero is
	// messages.MaxAgentsCeiling, which always applies.
	MaxAgents int
	// AgentRegistrationRate (per second) and AgentRegistrationBurst are a
	// token bucket for registrations of new agents, driven by the core's
	// now. Re-registrations are not throttled: after a failover every
	// agent re-registers at once.
	AgentRegistrationRate  float64
	AgentRegistrationBurst int
	// AgentUnreachableTimeout removes an agent that has been unreachable
	// this long: its tasks are LOST to their frameworks and it is
	// forgotten (Mesos keeps unreachable agents in its registry until
	// --registry_max_agent_age). An agent that comes back later
	// re-registers as after a failover.
	AgentUnreachableTimeout time.Duration
	// AgentRemovalInterval spaces those removals, at most one per
	// interval (Mesos' --agent_removal_rate_limit 1/20mins is 20m): a
	// partition that cuts off a rack does not lose all its tasks at once,
	// and an operator has time to act. Zero: no spacing.
	AgentRemovalInterval time.Duration
	// MaxFrameworksPerPrincipal bounds the frameworks one principal holds.
	MaxFrameworksPerPrincipal int
	// MaxRoles bounds the distinct roles known to the master: configured
	// ones and those frameworks subscribe to. Zero is
	// messages.MaxRolesCeiling, which always applies.
	MaxRoles int
	// MaxAgentResources bounds what one agent may announce, per scalar
	// resource name (a name not listed is not bounded here; every amount
	// is bounded by messages.MaxScalar).
	MaxAgentResources []*messages.Resource
	// MaxAgentsPerAgentHost lets a test harness's agent-host certificate
	// (RoleAgentHost, testkit/scale) speak for up to this many simulated
	// agents over its one connection. Zero, the default, refuses such
	// certificates: a real cluster has one agent per certificate.
	MaxAgentsPerAgentHost int
}

// Flags that raise each limit, named in errors and used as the metric's
// label.
const (
	LimitMaxAgents                 = "--max-agents"
	LimitMaxAgentsPerAgentHost     = "--max-agents-per-agent-host"
	LimitAgentRegistrationRate     = "--agent-registration-rate"
	LimitMaxFrameworksPerPrincipal = "--max-frameworks-per-principal"
	LimitMaxRoles                  = "--max-roles"
	LimitMaxAgentResources         = "--max-agent-resources"
)

// DefaultMaxAgentResources is the default per-agent maximum: beyond the
// largest machines sold today (cpus in cores, mem and disk in MiB).
const DefaultMaxAgentResources = "cpus:1024;mem:16777216;disk:1073741824;gpus:64"

// DefaultLimits are the production limits.
func DefaultLimits() Limits {
	maxRes, err := messages.ParseResources(DefaultMaxAgentResources)
	if err != nil {
		panic(err) // a constant
	}
	return Limits{
		// Mesos has been run with tens of thousands of agents; the ceiling
		// is messages.MaxAgentsCeiling.
		MaxAgents: 10_000,
		// A whole rack or autoscaling group joining registers in seconds;
		// a flood of fake agents is held to a trickle.
		AgentRegistrationRate: 100, AgentRegistrationBurst: 1000,
		AgentUnreachableTimeout:   15 * time.Minute,
		MaxFrameworksPerPrincipal: 1000,
		MaxRoles:                  1000,
		MaxAgentResources:         maxRes,
	}
}

// Validate checks limits read from flags.
func (l Limits) Validate() error {
	switch {
	case l.MaxAgents < 0 || l.MaxAgents > messages.MaxAgentsCeiling:
		return fmt.Errorf("%s %d: want 0 (the ceiling) to %d, where resource sums stay exact", LimitMaxAgents, l.MaxAgents, messages.MaxAgentsCeiling)
	case l.AgentRegistrationRate < 0 || l.AgentRegistrationBurst < 0 || (l.AgentRegistrationRate > 0 && l.AgentRegistrationBurst < 1):
		return fmt.Errorf("%s %g burst %d: want a rate >= 0 (0: no limit) and a burst >= 1", LimitAgentRegistrationRate, l.AgentRegistrationRate, l.AgentRegistrationBurst)
	case l.MaxRoles < 0 || l.MaxRoles > messages.MaxRolesCeiling:
		return fmt.Errorf("%s %d: want 0 (the ceiling) to %d, where resource sums stay exact", LimitMaxRoles, l.MaxRoles, messages.MaxRolesCeiling)
	case l.MaxAgentsPerAgentHost < 0 || l.MaxAgentsPerAgentHost > messages.MaxAgentsCeiling:
		return fmt.Errorf("%s %d: want 0 (agent-host certificates refused) to %d", LimitMaxAgentsPerAgentHost, l.MaxAgentsPerAgentHost, messages.MaxAgentsCeiling)
	case l.AgentUnreachableTimeout < 0 || l.AgentRemovalInterval < 0 || l.MaxFrameworksPerPrincipal < 0:
		return fmt.Errorf("limits must not be negative (0: no limit)")
	}
	for _, r := range l.MaxAgentResources {
		if len(r.Ranges) > 0 || r.Revocable || r.Role != "" {
			return fmt.Errorf("%s: %s: give unreserved scalars, such as cpus:1024;mem:16777216", LimitMaxAgentResources, r.Name)
		}
	}
	return messages.ValidateResources(l.MaxAgentResources)
}

// limiter is the core's state for its limits: the registration bucket.
type limiter struct {
	tokens float64
	last   time.Time
	// lastRemoval is when the last unreachable agent was removed.
	lastRemoval time.Time
}

// agentRemoval is an unreachable agent's timeout; since tells it from an
// earlier stretch of unreachability.
type agentRemoval struct {
	agentID string
	since   time.Time
}

func (agentRemoval) isTimer() {}

// overLimit answers a request that would exceed a limit.
func (c *Core) overLimit(to Endpoint, limit, text string, req proto.Message) {
	c.log.Warn("request refused: limit exceeded", "limit", limit, "request", string(req.ProtoReflect().Descriptor().FullName()), "why", text)
	c.cfg.Metrics.Count(LimitExceeded, limit, 1)
	c.reject(to, messages.Error_LIMIT_EXCEEDED, text, req)
}

// takeRegistration takes a token for a new agent's registration.
func (c *Core) takeRegistration(now time.Time) bool {
	l := c.cfg.Limits
	if l.AgentRegistrationRate <= 0 {
		return true
	}
	b := &c.limiter
	if b.last.IsZero() {
		b.tokens = float64(l.AgentRegistrationBurst)
	} else if now.After(b.last) {
		b.tokens = min(float64(l.AgentRegistrationBurst), b.tokens+now.Sub(b.last).Seconds()*l.AgentRegistrationRate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// mayAddAgent checks the limits on a new agent record (newRegistration:
// a first registration, which the rate limits too) and on what it
// announces.
func (c *Core) mayAddAgent(to Endpoint, info *messages.AgentInfo, isNew, newRegistration bool, req proto.Message, now time.Time) bool {
	l := c.cfg.Limits
	maxAgents := l.MaxAgents
	if maxAgents <= 0 {
		maxAgents = messages.MaxAgentsCeiling
	}
	if isNew && c.books.AgentCount() >= maxAgents {
		c.overLimit(to, LimitMaxAgents, fmt.Sprintf("the master holds %d agents, its limit (%s %d); remove agents or raise the limit", c.books.AgentCount(), LimitMaxAgents, maxAgents), req)
		return false
	}
	for _, max := range l.MaxAgentResources {
		if got := messages.ScalarOf(info.GetResources(), max.Name); got > max.Scalar {
			c.overLimit(to, LimitMaxAgentResources, fmt.Sprintf("agent %s announces %s:%g, over the per-agent limit of %g (%s %q); raise it on the master if the machine is real",
				info.GetHostname(), max.Name, got, max.Scalar, LimitMaxAgentResources, messages.FormatResources(l.MaxAgentResources)), req)
			return false
		}
	}
	if newRegistration && !c.takeRegistration(now) {
		c.overLimit(to, LimitAgentRegistrationRate, fmt.Sprintf("agent registrations are limited to %g/s with a burst of %d (%s); retry later", l.AgentRegistrationRate, l.AgentRegistrationBurst, LimitAgentRegistrationRate), req)
		return false
	}
	return true
}

// LimitAgentPerCertificate labels refusals of a second reachable agent
// under one certificate (no flag raises it).
const LimitAgentPerCertificate = "one-agent-per-certificate"

// oneAgentPerCertificate checks that an authenticated agent registering
// anew holds no reachable agent already: an agent's certificate names its
// hostname, so one certificate is one machine, and a flood of
// registrations with it (issue 14: 3,000) makes one agent, not thousands.
// A machine whose agent lost its ID (a wiped work dir) is admitted once
// its old agent is unreachable. An agent-host certificate's slot is its
// hostname: one reachable agent per hostname it may register.
func (c *Core) oneAgentPerCertificate(p Peer, info *messages.AgentInfo, to Endpoint, req proto.Message) bool {
	if !p.authenticated() {
		return true
	}
	held := c.books.reachableAs(identityKey(p.Role, p.Principal, info.GetHostname()))
	if held == "" {
		return true
	}
	what := fmt.Sprintf("agent certificate %q", p.Principal)
	if p.Role == RoleAgentHost {
		what = fmt.Sprintf("agent-host certificate %q for hostname %q", p.Principal, info.GetHostname())
	}
	c.overLimit(to, LimitAgentPerCertificate, fmt.Sprintf("%s already holds reachable agent %s: one reachable agent per certificate; "+
		"re-register with that ID, or register once it is unreachable", what, held), req)
	return false
}

// mayAddFramework checks the limits on a new framework of principal.
func (c *Core) mayAddFramework(to Endpoint, principal string, info *messages.FrameworkInfo, req proto.Message) bool {
	l := c.cfg.Limits
	if l.MaxFrameworksPerPrincipal > 0 {
		n := 0
		for _, f := range c.books.frameworks {
			if f.info.GetPrincipal() == principal {
				n++
			}
		}
		if n >= l.MaxFrameworksPerPrincipal {
			c.overLimit(to, LimitMaxFrameworksPerPrincipal, fmt.Sprintf("principal %q holds %d frameworks, its limit (%s %d); tear down frameworks it no longer uses", principal, n, LimitMaxFrameworksPerPrincipal, l.MaxFrameworksPerPrincipal), req)
			return false
		}
	}
	return c.mayAddRoles(to, info.GetRoles(), req)
}

// mayAddRoles checks that roles new to the master stay within MaxRoles.
func (c *Core) mayAddRoles(to Endpoint, roles []string, req proto.Message) bool {
	max := c.cfg.Limits.MaxRoles
	if max <= 0 {
		max = messages.MaxRolesCeiling
	}
	known := c.knownRoles()
	added := 0
	for _, r := range roles {
		if !known[r] {
			known[r] = true
			added++
		}
	}
	if added > 0 && len(known) > max {
		c.overLimit(to, LimitMaxRoles, fmt.Sprintf("%d new roles would make the master track %d roles, over its limit (%s %d); use existing roles or raise the limit", added, len(known), LimitMaxRoles, max), req)
		return false
	}
	return true
}

// knownRoles is every role configured or subscribed to.
func (c *Core) knownRoles() map[string]bool {
	known := make(map[string]bool, len(c.roles.byRole))
	for r := range c.roles.byRole {
		known[r] = true
	}
	for _, f := range c.books.frameworks {
		for _, r := range f.info.GetRoles() {
			known[r] = true
		}
	}
	return known
}

// armRemoval starts an unreachable agent's removal timeout.
func (c *Core) armRemoval(id string, now time.Time) {
	if t := c.cfg.Limits.AgentUnreachableTimeout; t > 0 {
		c.arm(t, agentRemoval{agentID: id, since: now})
	}
}

// removeUnreachable forgets an agent unreachable since the timer's time:
// its tasks are lost, and an agent that comes back must re-register.
func (c *Core) removeUnreachable(t agentRemoval, now time.Time) {
	a, ok := c.books.agents[t.agentID]
	if !ok || a.reachable || !a.unreachableAt.Equal(t.since) {
		return // it came back (or left) since
	}
	if every := c.cfg.Limits.AgentRemovalInterval; every > 0 && !c.limiter.lastRemoval.IsZero() && now.Before(c.limiter.lastRemoval.Add(every)) {
		// Not yet: another agent was removed within the interval.
		c.arm(c.limiter.lastRemoval.Add(every).Sub(now), t)
		return
	}
	c.limiter.lastRemoval = now
	why := fmt.Sprintf("agent unreachable for %s (--agent-unreachable-timeout): removed", c.cfg.Limits.AgentUnreachableTimeout)
	for _, tr := range ordered(a.tasks, taskKey.compare) {
		if !messages.IsTerminal(tr.task.State) {
			// Mesos keeps unreachable agents until its registry's GC and
			// answers TASK_UNKNOWN after; Agora tells the end at once.
			c.markTask(tr, c.goneState(tr), messages.TaskStatusReason_REASON_AGENT_REMOVED, why, now)
		}
	}
	c.books.removeAgent(t.agentID)
	c.emit(ForgetAgent{AgentID: t.agentID})
	c.cfg.Metrics.Count(AgentsRemoved, "", 1)
	c.log.Warn("unreachable agent removed", "agent_id", t.agentID, "unreachable_since", t.since, "timeout", c.cfg.Limits.AgentUnreachableTimeout)
	c.changed = true
	c.publish(AgentRemoved{AgentID: t.agentID})
}
