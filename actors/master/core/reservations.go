package core

import (
	"fmt"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
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
	out := r.ToMessages(false)
	for _, m := range out {
		m.Role = role
		m.Reservation = &messages.ReservationInfo{Role: role}
	}
	return out
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
}

// reservation carries out one RESERVE or UNRESERVE of an accept on the
// offers' pools, or says why not (nothing changed then).
func (c *Core) reservation(f *frameworkRecord, a *agentRecord, role string, rs []*messages.Resource, pools *offerPools, unreserve bool) (messages.Error_Code, error) {
	_, _, reserved, err := policy.FromMessagesReserved(rs)
	switch {
	case err != nil:
		return messages.Error_INVALID_ARGUMENT, err
	case len(reserved) != 1 || reserved[role].IsEmpty() || len(rs) == 0:
		return messages.Error_INVALID_ARGUMENT, fmt.Errorf("reservation operations name resources reserved for the offers' role %s, and only those", role)
	}
	for _, r := range rs {
		if r.Revocable || r.Disk != nil {
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("%s: revocable resources and volumes cannot be reserved or unreserved", r.Name)
		}
	}
	action := acl.ReserveResources
	if unreserve {
		action = acl.UnreserveResources
	}
	if !c.cfg.ACLs.Allows(f.info.GetPrincipal(), action, role) {
		c.cfg.Metrics.Count(PermissionDenied, string(action), 1)
		return messages.Error_PERMISSION_DENIED, fmt.Errorf("principal %q may not %s resources for role %s (access control list: %s)", f.info.GetPrincipal(), map[bool]string{false: "reserve", true: "unreserve"}[unreserve], role, action)
	}
	r := reserved[role]
	dynamic := make([]*messages.Resource, len(rs))
	for i, m := range rs {
		labels := m.GetReservation().GetLabels()
		if len(labels) > messages.MaxLabels {
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("reservation with %d labels, over the limit of %d", len(labels), messages.MaxLabels)
		}
		for k, v := range labels {
			if len(k) > messages.MaxLabelKey || len(v) > messages.MaxLabelValue {
				return messages.Error_INVALID_ARGUMENT, fmt.Errorf("reservation label %.64q: keys take at most %d bytes, values %d", k, messages.MaxLabelKey, messages.MaxLabelValue)
			}
		}
		dynamic[i] = &messages.Resource{Name: m.Name, Scalar: m.Scalar, Ranges: m.Ranges, Role: role,
			Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: role, Principal: f.info.GetPrincipal(), Labels: labels}}
	}
	static, current := messages.SplitDynamic(a.info.Resources)
	var next []*messages.Resource
	if unreserve {
		if !pools.resv[role].Contains(r) {
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("unreserve %s: only %s reserved for %s is offered", r, pools.resv[role], role)
		}
		var mine, others []*messages.Resource
		for _, d := range current {
			if d.Role == role {
				mine = append(mine, d)
			} else {
				others = append(others, d)
			}
		}
		if !messages.ContainsResources(mine, dynamic) {
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("unreserve %s: only %s is dynamically reserved for %s (static reservations change only with the agent's --resources)", r, messages.FormatResources(messages.SumResources(mine)), role)
		}
		rest := messages.SubtractResources(mine, dynamic)
		for _, m := range rest {
			m.Reservation = mine[0].Reservation
		}
		next = append(others, rest...)
	} else {
		if !pools.left.Contains(r) {
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("reserve %s: only %s unreserved is offered", r, pools.left)
		}
		next = append(current, dynamic...)
	}
	applied, err := messages.ApplyReservations(static, next)
	if err != nil {
		return messages.Error_INVALID_ARGUMENT, err
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
	a.info.Resources = applied
	c.toAllocator(&messages.AllocatorUpdateReservation{AgentId: a.id(), Role: role, Resources: policy.ToQuantities(r),
		Unreserve: unreserve, FrameworkId: f.id(), FrameworkRole: role})
	c.send(a.endpoint, &messages.CheckpointResources{AgentId: a.info.Id, Resources: next, MasterEpoch: c.epoch()})
	c.log.Info("reservation changed", "agent_id", a.id(), "framework_id", f.id(), "role", role, "resources", r.String(), "unreserve", unreserve)
	return 0, nil
}
