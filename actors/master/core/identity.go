package core

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agora-sched/agora/cluster/acl"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Identities. A Peer's Role and Principal are what its connection's
// certificate names (the transport checks the certificate and that every
// message on the connection comes from the node it speaks for). Where the
// transport authenticates nobody (an insecure cluster: Role is empty), the
// checks here are off. Otherwise:
//   - an agent registers under the hostname its certificate names, and only
//     that identity may act for its AgentID afterwards (heartbeats, status
//     updates, re-registration): a certificate of another agent cannot take
//     a real agent's ID or its tasks;
//   - a framework belongs to the principal that registered it
//     (FrameworkInfo.principal): a scheduler of another principal can
//     neither take it over by subscribing with its ID nor call for it;
//   - only operators change role configuration;
//   - an agent-host certificate (RoleAgentHost: a test harness's process of
//     simulated agents, testkit/scale) is refused unless
//     Limits.MaxAgentsPerAgentHost is set; then it registers agents only
//     under the hostnames <name>-0 .. <name>-(N-1), one reachable agent
//     per hostname, and only it may act for them afterwards. An agent's
//     certificate and an agent-host's never act for each other's agents,
//     even with the same name.

// The roles a certificate can name.
const (
	RoleMaster    = "master"
	RoleAgent     = "agent"
	RoleFramework = "framework"
	RoleOperator  = "operator"
	RoleAgentHost = "agent-host"
)

func (p Peer) authenticated() bool { return p.Role != "" }

func (p Peer) String() string {
	if !p.authenticated() {
		return "unauthenticated " + p.Endpoint.String()
	}
	return p.Role + " " + p.Principal
}

// DeniedIdentity labels a refusal for the sender's identity (a certificate
// of the wrong role, or of another agent or framework principal) rather
// than an access control list's action.
const DeniedIdentity = "identity"

// deny answers a request its sender may not make, says so in the log and
// counts it under action (an acl.Action, or DeniedIdentity).
func (c *Core) deny(p Peer, action, text string, req proto.Message) {
	c.send(p.Endpoint, c.denial(p, action, text, req))
}

// denial is deny's answer, logged and counted, for a query that returns
// it rather than sending it.
func (c *Core) denial(p Peer, action, text string, req proto.Message) *messages.Error {
	c.log.Warn("request refused: permission denied", "peer", p.String(), "request", fullName(req), "action", action, "why", text)
	c.cfg.Metrics.Count(PermissionDenied, action, 1)
	return c.refusal(messages.Error_PERMISSION_DENIED, text, req)
}

// mayRegisterAgent checks that an agent registers under its own name, and
// names itself (to) as where the master is to send its tasks.
func (c *Core) mayRegisterAgent(p Peer, info *messages.AgentInfo, to Endpoint, req proto.Message) bool {
	if !p.authenticated() {
		return true
	}
	switch {
	case p.Role == RoleAgentHost:
		if why := c.agentHostRefuses(p, info.GetHostname()); why != "" {
			c.deny(p, DeniedIdentity, why, req)
			return false
		}
		return c.answersToSender(p, to, req)
	case p.Role != RoleAgent:
		c.deny(p, DeniedIdentity, fmt.Sprintf("only agents register as agents; this connection's certificate is a %s's", p.Role), req)
	case p.Principal != info.GetHostname():
		c.deny(p, DeniedIdentity, fmt.Sprintf("an agent registers under the hostname its certificate names (%s), not %q", p.Principal, info.GetHostname()), req)
	default:
		return c.answersToSender(p, to, req)
	}
	return false
}

// agentHostRefuses says why an agent-host certificate may not register an
// agent named hostname ("" when it may): the master takes none unless
// told to (a production cluster never is), and then only the hostnames
// <name>-<n>, n below the bound, written without leading zeros so that
// each slot has one name.
func (c *Core) agentHostRefuses(p Peer, hostname string) string {
	n := c.cfg.Limits.MaxAgentsPerAgentHost
	if n <= 0 {
		return fmt.Sprintf("agent-host certificates are for test harnesses and this master takes none (%s); agents register with agent certificates", LimitMaxAgentsPerAgentHost)
	}
	slot, ok := strings.CutPrefix(hostname, p.Principal+"-")
	i, err := strconv.Atoi(slot)
	if !ok || err != nil || i < 0 || i >= n || strconv.Itoa(i) != slot {
		return fmt.Sprintf("agent-host certificate %q registers agents as %s-0 .. %s-%d (%s %d), not %q", p.Principal, p.Principal, p.Principal, n-1, LimitMaxAgentsPerAgentHost, n, hostname)
	}
	return ""
}

// answersToSender checks that a registration or subscription names a PID
// on the sender's own node. The transport vouches only for the sender's
// address: a PID elsewhere would have the master send another node's
// agent tasks accounted to the sender's resources (an overcommit), or
// another scheduler offers of the sender's framework.
func (c *Core) answersToSender(p Peer, to Endpoint, req proto.Message) bool {
	if p.Endpoint.IsZero() || to.Address != p.Endpoint.Address {
		c.deny(p, DeniedIdentity, fmt.Sprintf("the request names a PID at %q but comes from %q: register and subscribe with a PID of the sending node", to.Address, p.Endpoint.Address), req)
		return false
	}
	return true
}

// fromAgent checks that a message about an agent comes from that agent.
func (c *Core) fromAgent(p Peer, a *agentRecord, req proto.Message) bool {
	if !p.authenticated() || ((p.Role == RoleAgent || p.Role == RoleAgentHost) && p.Role == a.role && p.Principal == a.principal) {
		return true
	}
	c.deny(p, DeniedIdentity, fmt.Sprintf("agent %s is %s's; this connection is %s's", a.id(), a.principal, p), req)
	return false
}

// mayHoldFramework checks that a subscription comes from a framework's own
// principal, and stamps a new framework with it.
func (c *Core) mayHoldFramework(p Peer, info *messages.FrameworkInfo, known *frameworkRecord, to Endpoint, req proto.Message) bool {
	if !p.authenticated() {
		return true
	}
	switch {
	case p.Role != RoleFramework:
		c.deny(p, DeniedIdentity, fmt.Sprintf("only frameworks subscribe; this connection's certificate is a %s's", p.Role), req)
	case info.GetPrincipal() != "" && info.GetPrincipal() != p.Principal:
		c.deny(p, DeniedIdentity, fmt.Sprintf("the framework names principal %q but its scheduler's certificate names %q", info.GetPrincipal(), p.Principal), req)
	case known != nil && known.info.GetPrincipal() != "" && known.info.GetPrincipal() != p.Principal:
		c.deny(p, DeniedIdentity, fmt.Sprintf("framework %s belongs to principal %q", known.id(), known.info.GetPrincipal()), req)
	default:
		return c.answersToSender(p, to, req)
	}
	return false
}

// mayOperate checks that a change of role's configuration comes from an
// operator the access control list allows it.
func (c *Core) mayOperate(p Peer, role string, req proto.Message) bool {
	switch {
	case p.authenticated() && p.Role != RoleOperator:
		c.deny(p, DeniedIdentity, fmt.Sprintf("only operators change the role configuration; this connection is %s's", p), req)
	case !c.cfg.ACLs.Allows(p.Principal, acl.UpdateRole, role):
		c.deny(p, string(acl.UpdateRole), fmt.Sprintf("principal %q may not configure role %q (access control list: update_roles)", p.Principal, role), req)
	default:
		return true
	}
	return false
}

// mayRegisterIn checks that the access control list lets a framework's
// principal use each of its roles.
func (c *Core) mayRegisterIn(p Peer, info *messages.FrameworkInfo, req proto.Message) bool {
	for _, role := range info.GetRoles() {
		if !c.cfg.ACLs.Allows(p.Principal, acl.RegisterFramework, role) {
			c.deny(p, string(acl.RegisterFramework), fmt.Sprintf("principal %q may not register frameworks in role %q (access control list: register_frameworks)", p.Principal, role), req)
			return false
		}
	}
	return true
}

// taskUser is the user a task runs as, as the agent will choose it: its
// command's (or, in an executor, the executor's command's), else its
// framework's; "" leaves it to the agent's --task-user (nobody by default).
func taskUser(f *frameworkRecord, t *messages.TaskInfo) string {
	if u := t.GetCommand().GetUser(); u != "" {
		return u
	}
	if u := t.GetExecutor().GetCommand().GetUser(); u != "" {
		return u
	}
	return f.info.GetUser()
}

// SetACLs replaces the access control list (nil: none, everything
// allowed). What it allows applies to requests from now on; frameworks
// already registered stay.
func (c *Core) SetACLs(l *acl.List, now time.Time) Ready {
	c.cfg.ACLs = l
	c.log.Info("access control list replaced", "enabled", l.Enabled())
	return c.ready()
}
