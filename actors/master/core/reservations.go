package core

import (
	"fmt"
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Reservations in the master's books. An agent's resources
// (AgentInfo.resources) are what the agent reported: its --resources with
// its dynamic reservations carved out, so a new leader learns them from
// re-registrations. RESERVE and UNRESERVE change the record here, the
// allocator's pools (AllocatorUpdateReservation) and the agent's
// checkpoint (CheckpointResources, the whole set each time), in that order
// of messages. Offers of reserved resources carry the role in
// Resource.role; tasks use them by naming it.

// reservedMessages is r reserved for role, as the wire says it.
func reservedMessages(r policy.Resources, role string) []*messages.Resource {
	return reservedAs(r, &messages.ReservationInfo{Role: role})
}

func reservedAs(r policy.Resources, info *messages.ReservationInfo) []*messages.Resource {
	out := r.ToMessages(false)
	for _, m := range out {
		m.Role = info.Role
		m.Reservation = proto.Clone(info).(*messages.ReservationInfo)
	}
	return out
}

// offeredReservation is how an offer of role's reservation on agent
// describes it: the dynamic reservation (principal, labels) when that is
// all the agent has reserved for role, else just the role (static, or
// several reservations the quantities cannot tell apart).
func offeredReservation(resources []*messages.Resource, role string) *messages.ReservationInfo {
	var found *messages.ReservationInfo
	for _, r := range resources {
		if r.Role != role {
			continue
		}
		if !messages.IsDynamic(r) || found != nil && !proto.Equal(found, r.Reservation) {
			return &messages.ReservationInfo{Role: role}
		}
		found = r.Reservation
	}
	if found == nil {
		return &messages.ReservationInfo{Role: role}
	}
	return found
}

// taskResources splits a task's resources into the agent's unreserved
// regular and revocable pools and one reservation.
func taskResources(rs []*messages.Resource) (res, rev, resv policy.Resources, resvRole string, err error) {
	res, rev, reserved, err := policy.FromMessagesReserved(rs)
	if err != nil {
		return res, rev, resv, "", err
	}
	if len(reserved) > 1 {
		return res, rev, resv, "", fmt.Errorf("%w: a task uses resources reserved for %d roles; use one", messages.ErrBadResource, len(reserved))
	}
	for role, r := range reserved {
		resv, resvRole = r, role
	}
	return res, rev, resv, resvRole, nil
}

// offerPools is what is left of the offers of one accept, pool by pool,
// as its operations use them.
type offerPools struct {
	left, leftRev, leftLent policy.Resources
	resv                    map[string]policy.Resources
	// sharedTaken are the shared volumes (sharedKey) an earlier task of
	// the accept took the disk of: later tasks use them at no charge.
	sharedTaken map[string]bool
}

// reservation carries out one RESERVE or UNRESERVE of an accept on the
// offers' pools, or says why not (nothing changed then).
func (c *Core) reservation(f *frameworkRecord, a *agentRecord, role string, rs []*messages.Resource, pools *offerPools, unreserve bool) (messages.Error_Code, error) {
	if got := reservedRole(rs); got != role {
		return messages.Error_INVALID_ARGUMENT, fmt.Errorf("reservation operations name resources reserved for the offers' role %s, and only those", role)
	}
	fits := func(r policy.Resources) error {
		if unreserve && !pools.resv[role].Contains(r) {
			return fmt.Errorf("unreserve %s: only %s reserved for %s is offered", r, pools.resv[role], role)
		}
		if !unreserve && !pools.left.Contains(r) {
			return fmt.Errorf("reserve %s: only %s unreserved is offered", r, pools.left)
		}
		return nil
	}
	r, code, err := c.changeReservation(f.info.GetPrincipal(), a, role, rs, unreserve, fits, f)
	if err != nil {
		return code, err
	}
	if pools.resv == nil {
		pools.resv = map[string]policy.Resources{}
	}
	if unreserve {
		pools.resv[role] = pools.resv[role].Sub(r)
		pools.left = pools.left.Add(r)
	} else {
		pools.left = pools.left.Sub(r)
		pools.resv[role] = pools.resv[role].Add(r)
	}
	return 0, nil
}

// reservedRole is the one role rs are reserved for ("" when none or
// several).
func reservedRole(rs []*messages.Resource) string {
	role := ""
	for i, r := range rs {
		rr := policy.ReservationRole(r)
		if rr == "" || i > 0 && rr != role {
			return ""
		}
		role = rr
	}
	return role
}

// changeReservation reserves rs (all for role) on agent a for principal,
// or unreserves them, once fits agrees they are there to change. With a
// framework they are the framework's offered resources, else free ones.
// It returns what changed.
func (c *Core) changeReservation(principal string, a *agentRecord, role string, rs []*messages.Resource, unreserve bool, fits func(policy.Resources) error, f *frameworkRecord) (policy.Resources, messages.Error_Code, error) {
	_, _, reserved, err := policy.FromMessagesReserved(rs)
	r := reserved[role]
	switch {
	case err != nil:
		return r, messages.Error_INVALID_ARGUMENT, err
	case len(reserved) != 1 || r.IsEmpty():
		return r, messages.Error_INVALID_ARGUMENT, fmt.Errorf("name resources reserved for one role, such as cpus(%s):1", role)
	}
	for _, m := range rs {
		if m.Revocable || m.Disk != nil {
			return r, messages.Error_INVALID_ARGUMENT, fmt.Errorf("%s: revocable resources and volumes cannot be reserved or unreserved", m.Name)
		}
	}
	action, verb := acl.ReserveResources, "reserve"
	if unreserve {
		action, verb = acl.UnreserveResources, "unreserve"
	}
	if !c.cfg.ACLs.Allows(principal, action, role) {
		c.cfg.Metrics.Count(PermissionDenied, string(action), 1)
		return r, messages.Error_PERMISSION_DENIED, fmt.Errorf("principal %q may not %s resources for role %s (access control list: %s)", principal, verb, role, action)
	}
	if err := fits(r); err != nil {
		return r, messages.Error_INVALID_ARGUMENT, err
	}
	dynamic := make([]*messages.Resource, len(rs))
	for i, m := range rs {
		labels := m.GetReservation().GetLabels()
		if len(labels) > messages.MaxLabels {
			return r, messages.Error_INVALID_ARGUMENT, fmt.Errorf("reservation with %d labels, over the limit of %d", len(labels), messages.MaxLabels)
		}
		for k, v := range labels {
			if len(k) > messages.MaxLabelKey || len(v) > messages.MaxLabelValue {
				return r, messages.Error_INVALID_ARGUMENT, fmt.Errorf("reservation label %.64q: keys take at most %d bytes, values %d", k, messages.MaxLabelKey, messages.MaxLabelValue)
			}
		}
		dynamic[i] = &messages.Resource{Name: m.Name, Scalar: m.Scalar, Ranges: m.Ranges, Role: role,
			Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: role, Principal: principal, Labels: labels}}
	}
	static, current := messages.SplitDynamic(a.info.Resources)
	var next []*messages.Resource
	if unreserve {
		var mine, others []*messages.Resource
		for _, d := range current {
			// A volume is unreserved only once destroyed.
			if d.Role == role && !messages.IsVolume(d) {
				mine = append(mine, d)
			} else {
				others = append(others, d)
			}
		}
		if !messages.ContainsResources(mine, dynamic) {
			return r, messages.Error_INVALID_ARGUMENT, fmt.Errorf("unreserve %s: only %s is dynamically reserved for %s outside volumes (static reservations change only with the agent's --resources; volumes are unreserved once destroyed)", r, messages.FormatResources(messages.SumResources(mine)), role)
		}
		rest := messages.SubtractResources(mine, dynamic)
		for _, m := range rest {
			m.Reservation = mine[0].Reservation
		}
		next = append(others, rest...)
	} else {
		next = append(current, dynamic...)
	}
	applied, err := messages.ApplyReservations(static, next)
	if err != nil {
		return r, messages.Error_INVALID_ARGUMENT, err
	}
	a.info.Resources = applied
	upd := &messages.AllocatorUpdateReservation{AgentId: a.id(), Role: role, Resources: policy.ToQuantities(r), Unreserve: unreserve}
	if f != nil {
		upd.FrameworkId, upd.FrameworkRole = f.id(), role
	}
	c.toAllocator(upd)
	c.send(a.endpoint, &messages.CheckpointResources{AgentId: a.info.Id, Resources: next, MasterEpoch: c.epoch()})
	c.log.Info("reservation changed", "agent_id", a.id(), "principal", principal, "role", role, "resources", r.String(), "unreserve", unreserve)
	c.changed = true
	return r, 0, nil
}

// ReserveResources reserves free resources of an agent for a role, or
// unreserves them, for an operator the reserve_resources or
// unreserve_resources list allows (Mesos' /reserve and /unreserve). The
// agent's outstanding offers are rescinded first, so that what is free is
// what the books say.
func (c *Core) ReserveResources(p Peer, msg *messages.OperatorReserve, now time.Time) Ready {
	if p.authenticated() && p.Role != RoleOperator {
		c.deny(p, DeniedIdentity, fmt.Sprintf("only operators reserve resources on agents; this connection is %s's", p), msg)
		return c.ready()
	}
	a, ok := c.books.agents[msg.GetAgentId().GetValue()]
	if !ok || !a.reachable {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_AGENT, fmt.Sprintf("no reachable agent %q (agora agents lists them)", msg.GetAgentId().GetValue()), msg)
		return c.ready()
	}
	role := reservedRole(msg.Resources)
	if role == "" {
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, "name resources reserved for one role, such as cpus(prod):2;mem(prod):1024", msg)
		return c.ready()
	}
	for _, r := range msg.Resources {
		r.Reservation = &messages.ReservationInfo{Labels: msg.Labels}
	}
	for _, o := range ordered(a.offers, strings.Compare) {
		c.rescind(o, "an operator changes the agent's reservations")
	}
	fits := func(r policy.Resources) error {
		free := c.freeOn(a, role, msg.Unreserve)
		if !free.Contains(r) {
			what := "unreserved"
			if msg.Unreserve {
				what = "reserved for " + role
			}
			return fmt.Errorf("only %s %s is free on agent %s (tasks hold the rest)", free, what, a.id())
		}
		return nil
	}
	if _, code, err := c.changeReservation(p.Principal, a, role, msg.Resources, msg.Unreserve, fits, nil); err != nil {
		if code == messages.Error_PERMISSION_DENIED {
			c.deny(p, string(map[bool]acl.Action{false: acl.ReserveResources, true: acl.UnreserveResources}[msg.Unreserve]), err.Error(), msg)
			return c.ready()
		}
		c.reject(p.Endpoint, code, err.Error(), msg)
		return c.ready()
	}
	verb := "reserved for"
	if msg.Unreserve {
		verb = "unreserved from"
	}
	c.send(p.Endpoint, &messages.OperatorAccepted{Message: fmt.Sprintf("%s %s %s on agent %s", messages.FormatResources(msg.Resources), verb, role, a.id())})
	return c.ready()
}

// freeOn is what no live task holds on a of its unreserved resources, or
// of its reservation for role.
func (c *Core) freeOn(a *agentRecord, role string, reserved bool) policy.Resources {
	regular, _, resv, _ := policy.FromMessagesReserved(a.info.Resources)
	free := regular
	if reserved {
		free = resv[role]
	}
	var used policy.Resources
	for _, t := range a.tasks {
		if messages.IsTerminal(t.task.State) {
			continue
		}
		switch {
		case !reserved:
			used = used.Add(t.res)
		case t.resvRole == role:
			used = used.Add(t.resv)
		}
	}
	if reserved {
		for _, ch := range a.shared {
			if ch.resvRole == role {
				used = used.Add(ch.disk)
			}
		}
	}
	if !free.Contains(used) {
		return policy.Resources{} // the books disagree: nothing is surely free
	}
	return free.Sub(used)
}
