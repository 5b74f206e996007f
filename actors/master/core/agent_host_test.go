package core

import (
	"testing"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// outcome is what a Ready answered its sender: "registered" (an
// AgentRegistered), an error code's name, or "none".
func outcome(r Ready) string {
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			switch m := s.Msg.(type) {
			case *messages.AgentRegistered:
				return "registered"
			case *messages.Error:
				return m.Code.String()
			}
		}
	}
	return "none"
}

// registeredID is the AgentID a Ready confirmed, or "".
func registeredID(r Ready) string {
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if m, ok := s.Msg.(*messages.AgentRegistered); ok {
				return m.GetAgentId().GetValue()
			}
		}
	}
	return ""
}

// An agent-host certificate (testkit/scale's simulated agents) speaks for
// a bounded set of agents, each checked, and only where the master was
// told to take such certificates; an agent's certificate still speaks
// only for itself, and neither acts for the other's agents
// (identity.go's rules).
func TestAgentHostCertificate(t *testing.T) {
	host := Peer{Endpoint: Endpoint{"host:1", "x"}, Role: RoleAgentHost, Principal: "h"}
	other := Peer{Endpoint: Endpoint{"host:2", "x"}, Role: RoleAgentHost, Principal: "g"}
	// An agent certificate whose name is one of h's hostnames.
	agentH1 := Peer{Endpoint: Endpoint{"a:1", "x"}, Role: RoleAgent, Principal: "h-1"}
	// An agent certificate with the agent host's own name.
	agentNamedH := Peer{Endpoint: Endpoint{"a:3", "x"}, Role: RoleAgent, Principal: "h"}
	real := Peer{Endpoint: Endpoint{"a:2", "x"}, Role: RoleAgent, Principal: "a2"}
	register := func(c *Core, p Peer, hostname string) Ready {
		return c.RegisterAgent(p, &messages.RegisterAgent{Pid: &actor.PID{Address: p.Endpoint.Address, Id: hostname},
			Info: &messages.AgentInfo{Hostname: hostname, Resources: []*messages.Resource{{Name: messages.CPUs, Scalar: 1}}}}, traceT0)
	}
	heartbeat := func(c *Core, p Peer, id string) Ready {
		return c.AgentHeartbeat(p, &messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: id}}, traceT0)
	}

	t.Run("refused by default", func(t *testing.T) {
		c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}, Limits: DefaultLimits()})
		c.Start(traceT0)
		if got := outcome(register(c, host, "h-0")); got != messages.Error_PERMISSION_DENIED.String() {
			t.Fatalf("agent-host registration on a master without %s: %s; want PERMISSION_DENIED", LimitMaxAgentsPerAgentHost, got)
		}
		if n := len(c.books.agents); n != 0 {
			t.Fatalf("%d agents admitted", n)
		}
	})

	l := DefaultLimits()
	l.MaxAgentsPerAgentHost = 3
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}, Limits: l})
	c.Start(traceT0)
	ids := map[string]string{}
	for _, step := range []struct {
		who      Peer
		hostname string
		want     string
	}{
		{host, "h-0", "registered"},
		{host, "h-2", "registered"},
		{host, "h-3", messages.Error_PERMISSION_DENIED.String()},  // past the bound
		{host, "h-01", messages.Error_PERMISSION_DENIED.String()}, // one name per slot
		{host, "h", messages.Error_PERMISSION_DENIED.String()},    // not a slot
		{host, "g-0", messages.Error_PERMISSION_DENIED.String()},  // another host's
		{host, "a2", messages.Error_PERMISSION_DENIED.String()},   // a real agent's name
		{host, "h-0", messages.Error_LIMIT_EXCEEDED.String()},     // its slot holds a reachable agent
		{other, "g-0", "registered"},                              // another host, its own set
		{real, "a2", "registered"},                                // agent certificates as before
		{agentH1, "h-1", "registered"},                            // an agent certificate named like h's slot is its own agent
		{host, "h-1", "registered"},                               // ... and does not hold h's slot
		{agentH1, "h-1", messages.Error_LIMIT_EXCEEDED.String()},  // one reachable agent per agent certificate, still
		{real, "h-1", messages.Error_PERMISSION_DENIED.String()},
		{agentNamedH, "h", "registered"}, // an agent certificate registers only its own name
	} {
		r := register(c, step.who, step.hostname)
		if got := outcome(r); got != step.want {
			t.Fatalf("%s registers %q: %s; want %s", step.who, step.hostname, got, step.want)
		}
		if id := registeredID(r); id != "" {
			ids[step.who.String()+"/"+step.hostname] = id
		}
	}
	// Acting for an agent afterwards: only the identity that registered it.
	for _, step := range []struct {
		who   Peer
		agent string
		ok    bool
	}{
		{host, "agent-host h/h-0", true},
		{host, "agent-host h/h-2", true},
		{other, "agent-host h/h-0", false},
		{agentH1, "agent-host h/h-1", false},
		{real, "agent-host h/h-0", false},
		{host, "agent a2/a2", false},
		{host, "agent h-1/h-1", false},
		{agentH1, "agent h-1/h-1", true},
		{agentNamedH, "agent-host h/h-0", false}, // same name, not the same identity
		{host, "agent h/h", false},
	} {
		id, ok := ids[step.agent]
		if !ok {
			t.Fatalf("no agent %s registered: %v", step.agent, ids)
		}
		got := outcome(heartbeat(c, step.who, id))
		if denied := got == messages.Error_PERMISSION_DENIED.String(); denied == step.ok {
			t.Errorf("%s heartbeats for %s (%s): %s; want allowed %v", step.who, step.agent, id, got, step.ok)
		}
	}
	// A re-registration of h's agent by another identity is refused, by
	// h itself taken.
	id := ids["agent-host h/h-0"]
	rereg := func(p Peer) string {
		return outcome(c.ReregisterAgent(p, &messages.ReregisterAgent{Pid: &actor.PID{Address: p.Endpoint.Address, Id: "x"},
			Info: &messages.AgentInfo{Id: &messages.AgentID{Value: id}, Hostname: "h-0", Resources: []*messages.Resource{{Name: messages.CPUs, Scalar: 1}}}}, traceT0))
	}
	if got := rereg(other); got != messages.Error_PERMISSION_DENIED.String() {
		t.Errorf("another agent host re-registers h's agent: %s", got)
	}
	if got := rereg(host); got != "registered" {
		t.Errorf("h re-registers its agent: %s", got)
	}
}

func TestMaxAgentsPerAgentHostIsValidated(t *testing.T) {
	for _, n := range []int{-1, messages.MaxAgentsCeiling + 1} {
		l := DefaultLimits()
		l.MaxAgentsPerAgentHost = n
		if err := l.Validate(); err == nil {
			t.Errorf("%s %d accepted", LimitMaxAgentsPerAgentHost, n)
		}
	}
}
