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

// Persistent volumes in the master's books. A volume is an entry of the
// agent's resources (AgentInfo.resources) that carries a DiskInfo. CREATE
// carves it out of the role's reserved disk: out of its dynamically
// reserved disk when it fits there (the volume is then a dynamic
// reservation, with that reservation's ReservationInfo), else out of its
// statically reserved disk (the volume has no ReservationInfo, as static
// reservations do), as Mesos allows a volume on either. DESTROY turns it
// back into plain reserved disk of the same kind. Both send the agent the
// whole set it checkpoints (CheckpointResources: dynamic reservations and
// volumes), as RESERVE does, and the agent reports its volumes when it
// re-registers, so a new leader learns them. The allocator sees
// quantities only, so a volume is still the role's reserved disk to it and
// its pools do not change; offers of the reservation name the volumes no
// live task uses (withVolumes).
//
// A shared volume (Mesos' Resource.shared, made by a CREATE with shared
// set) may be used by several tasks of its role on its agent at once. Its
// disk is charged once, whatever the number of tasks using it, as Mesos'
// allocator counts a shared resource once: the first task to use it takes
// it from its offer, as for any volume, but the charge is the agent's
// (sharedCharge, to that task's framework and role), not the task's, and
// goes back to the allocator when the last task using the volume ends. It
// follows the volume's users: when its holder's last task on the volume
// ends while others' tasks still use it, it moves to one of them
// (releaseShared, AllocatorTransfer), so the holder's removal does not take
// it along.
// In use, it is offered again beside the reservation's offers (not out of
// their pools: its disk is charged already), and tasks launched on it then
// are charged nothing for it. Only frameworks with the SHARED_RESOURCES
// capability are offered shared volumes, create them or launch on them;
// other frameworks' offers leave them out. A volume in use is not
// destroyed, shared or not.

// diskEpsilon absorbs float error when disk is split and joined.
const diskEpsilon = 1e-6

// volume carries out one CREATE or DESTROY of an accept on agent a, whose
// offers are for role, or says why not (nothing changed then).
func (c *Core) volume(f *frameworkRecord, a *agentRecord, role string, rs []*messages.Resource, pools *offerPools, destroy bool) (messages.Error_Code, error) {
	for _, r := range rs {
		if r.Shared && !destroy && !sharesResources(f) {
			// Mesos' validation of CREATE says the same.
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("create: volume %q is shared, and framework %s has no SHARED_RESOURCES capability: declare it in the FrameworkInfo to make and use shared volumes", r.GetDisk().GetPersistenceId(), f.id())
		}
	}
	return c.changeVolumes(f.info.GetPrincipal(), "framework "+f.id(), a, role, rs, pools.resv[role], fmt.Sprintf("the offers' role %s is offered", role), destroy)
}

// changeVolumes creates or destroys the volumes rs of role on agent a for
// principal (by, for the log: a framework or an operator), taking their
// disk from avail (what of role's reservation is offered, or free: where
// says which, for the error), or says why not (nothing changed then).
func (c *Core) changeVolumes(principal, by string, a *agentRecord, role string, rs []*messages.Resource, avail policy.Resources, where string, destroy bool) (messages.Error_Code, error) {
	verb := "create"
	if destroy {
		verb = "destroy"
	}
	if len(rs) == 0 {
		return messages.Error_INVALID_ARGUMENT, fmt.Errorf("%s names no volumes", verb)
	}
	if err := messages.ValidateResources(rs); err != nil {
		return messages.Error_INVALID_ARGUMENT, err
	}
	for _, r := range rs {
		if err := messages.ValidateVolume(r); err != nil {
			return messages.Error_INVALID_ARGUMENT, err
		}
	}
	_, _, reserved, err := policy.FromMessagesReserved(rs)
	if err != nil {
		return messages.Error_INVALID_ARGUMENT, err
	}
	if destroy {
		// A shared volume in use is offered beside the pools, not in
		// them: say why it cannot go before saying its disk is not
		// offered.
		for _, r := range rs {
			i := findVolume(a.info.Resources, role, r.Disk.PersistenceId)
			if t := volumeUser(a, role, r.Disk.PersistenceId); t != "" && i >= 0 && a.info.Resources[i].Shared {
				return messages.Error_INVALID_ARGUMENT, fmt.Errorf("destroy: shared volume %q is in use by task %s: kill every task using it first", r.Disk.PersistenceId, t)
			}
		}
	}
	if len(reserved) != 1 || !avail.Contains(reserved[role]) {
		return messages.Error_INVALID_ARGUMENT, fmt.Errorf("%s volumes of %s: only %s reserved for %s", verb, reserved[role], avail, where)
	}
	if !destroy && !c.cfg.ACLs.Allows(principal, acl.CreateVolumes, role) {
		c.cfg.Metrics.Count(PermissionDenied, string(acl.CreateVolumes), 1)
		return messages.Error_PERMISSION_DENIED, fmt.Errorf("principal %q may not create volumes for role %s (access control list: create_volumes)", principal, role)
	}
	static, next := messages.SplitDynamic(a.info.Resources)
	seen := map[string]bool{}
	for _, r := range rs {
		id := r.Disk.PersistenceId
		if seen[id] {
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("%s names volume %q twice", verb, id)
		}
		seen[id] = true
		i := findVolume(next, role, id)
		if destroy {
			if i < 0 {
				return messages.Error_INVALID_ARGUMENT, fmt.Errorf("destroy: no volume %q for role %s on agent %s", id, role, a.id())
			}
			if creator := next[i].Disk.Principal; !c.cfg.ACLs.Allows(principal, acl.DestroyVolumes, creator) {
				c.cfg.Metrics.Count(PermissionDenied, string(acl.DestroyVolumes), 1)
				return messages.Error_PERMISSION_DENIED, fmt.Errorf("principal %q may not destroy volume %q created by %q (access control list: destroy_volumes)", principal, id, creator)
			}
			if v := next[i]; !sameVolume(v, r) {
				return messages.Error_INVALID_ARGUMENT, fmt.Errorf("destroy: volume %q is %g MiB at %s: name it as offered", id, v.Scalar, v.Disk.ContainerPath)
			}
			// Mesos: a volume in use by a task cannot be destroyed.
			if t := volumeUser(a, role, id); t != "" {
				return messages.Error_INVALID_ARGUMENT, fmt.Errorf("destroy: volume %q is in use by task %s: kill the task first", id, t)
			}
			if messages.IsDynamic(next[i]) {
				next[i].Disk = nil // plain dynamically reserved disk again
			} else {
				next[i].Scalar = 0 // back to the static disk: dropEmptyDisk drops it
			}
			continue
		}
		if i >= 0 {
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("create: volume %q already exists for role %s on agent %s", id, role, a.id())
		}
		if r.Disk.ReadOnly {
			// Mesos: "Read-only persistent volume not supported". The
			// mode is how one task mounts the volume, not the volume's.
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("create: volume %q is marked read-only: a volume is created read-write, and a task that should not write names it with read_only (mode RO) among its resources", id)
		}
		vol := &messages.Resource{Name: messages.Disk, Scalar: r.Scalar, Role: role, Shared: r.Shared,
			Disk: &messages.DiskInfo{PersistenceId: id, ContainerPath: r.Disk.ContainerPath, Principal: principal}}
		if resv, ok := takeDisk(next, role, r.Scalar); ok {
			vol.Reservation = resv
		} else if free := staticDiskFree(static, next, role); free+diskEpsilon < r.Scalar {
			// One volume is one resource of one reservation, as in
			// Mesos: it is not pieced together from both kinds.
			return messages.Error_INVALID_ARGUMENT, fmt.Errorf("create: volume %q of %g MiB fits neither the disk dynamically reserved for %s on agent %s that is not a volume yet (%g MiB) nor its statically reserved disk that is not a volume yet (%g MiB)", id, r.Scalar, role, a.id(), plainDynamicDisk(next, role), free)
		}
		next = append(next, vol)
	}
	kept := dropEmptyDisk(next)
	applied, err := messages.ApplyReservations(static, kept)
	if err != nil {
		return messages.Error_INVALID_ARGUMENT, err
	}
	a.info.Resources = applied
	c.send(a.endpoint, &messages.CheckpointResources{AgentId: a.info.Id, Resources: kept, MasterEpoch: c.epoch()})
	c.log.Info("volumes changed", "agent_id", a.id(), "by", by, "role", role, "op", verb, "volumes", len(rs))
	c.changed = true
	return 0, nil
}

// findVolume is the index of role's volume id in rs, or -1.
func findVolume(rs []*messages.Resource, role, id string) int {
	for i, r := range rs {
		if messages.IsVolume(r) && r.Role == role && r.Disk.PersistenceId == id {
			return i
		}
	}
	return -1
}

// plainDynamicDisk is role's dynamically reserved disk in rs (an agent's
// checkpointed resources) that is not a volume.
func plainDynamicDisk(rs []*messages.Resource, role string) float64 {
	var have float64
	for _, r := range rs {
		if r.Name == messages.Disk && r.Role == role && !messages.IsVolume(r) {
			have += r.Scalar
		}
	}
	return have
}

// staticDiskFree is role's statically reserved disk (static, as
// messages.SplitDynamic gives it) that no volume in checkpointed takes.
func staticDiskFree(static, checkpointed []*messages.Resource, role string) float64 {
	var have float64
	for _, r := range static {
		if r.Name == messages.Disk && r.Role == role {
			have += r.Scalar
		}
	}
	for _, r := range checkpointed {
		if messages.IsVolume(r) && !messages.IsDynamic(r) && r.Role == role {
			have -= r.Scalar
		}
	}
	return have
}

// takeDisk takes mib of role's plain (not volume) dynamically reserved disk
// from rs, in their order, and returns the reservation of the first entry
// it took from; it changes nothing when there is not enough.
func takeDisk(rs []*messages.Resource, role string, mib float64) (*messages.ReservationInfo, bool) {
	if plainDynamicDisk(rs, role)+diskEpsilon < mib {
		return nil, false
	}
	var resv *messages.ReservationInfo
	for _, r := range rs {
		if mib <= diskEpsilon {
			break
		}
		if r.Name != messages.Disk || r.Role != role || messages.IsVolume(r) || r.Scalar <= diskEpsilon {
			continue
		}
		take := min(r.Scalar, mib)
		r.Scalar -= take
		mib -= take
		if resv == nil {
			resv = proto.Clone(r.Reservation).(*messages.ReservationInfo)
		}
	}
	return resv, true
}

// volumeUser is a live task on a that uses role's volume id ("" when none).
func volumeUser(a *agentRecord, role, id string) string {
	// The least task ID of the users: a shared volume has several, and the
	// error naming one must not depend on the map's order.
	user := ""
	for _, t := range a.tasks {
		if tid := t.id(); usesVolume(t, role, id) && (user == "" || tid < user) {
			user = tid
		}
	}
	return user
}

// checkTaskVolumes refuses a task of f naming a volume that agent a does
// not have as the task says it (role, size, container path, shared or
// not), a volume that is not shared and another live task uses, or a
// shared one when f lacks the SHARED_RESOURCES capability.
func checkTaskVolumes(f *frameworkRecord, a *agentRecord, t *messages.TaskInfo) error {
	for _, r := range t.Resources {
		if r.GetDisk() == nil {
			continue
		}
		if err := messages.ValidateVolume(r); err != nil {
			return err
		}
		id := r.Disk.PersistenceId
		i := findVolume(a.info.Resources, r.Role, id)
		if i < 0 {
			return fmt.Errorf("no volume %q for role %s on agent %s (CREATE it first)", id, r.Role, a.id())
		}
		v := a.info.Resources[i]
		if !sameVolume(v, r) {
			return fmt.Errorf("volume %q is %g MiB at %s: name it as offered", id, v.Scalar, v.Disk.ContainerPath)
		}
		switch {
		case v.Shared && !r.Shared:
			return fmt.Errorf("volume %q is shared: name it as offered, with shared set", id)
		case !v.Shared && r.Shared:
			return fmt.Errorf("volume %q is not shared: name it as offered, without shared", id)
		case v.Shared && !sharesResources(f):
			return fmt.Errorf("volume %q is shared, and framework %s has no SHARED_RESOURCES capability: declare it in the FrameworkInfo to use shared volumes", id, f.id())
		case v.Shared:
			// Several tasks use it at once.
		default:
			if user := volumeUser(a, r.Role, id); user != "" {
				return fmt.Errorf("volume %q is in use by task %s (only a shared volume is used by several tasks at once)", id, user)
			}
		}
	}
	return nil
}

// sharesResources reports whether framework f declared SHARED_RESOURCES.
func sharesResources(f *frameworkRecord) bool {
	for _, c := range f.info.GetCapabilities() {
		if c == messages.Capability_SHARED_RESOURCES {
			return true
		}
	}
	return false
}

// sharedCharge is the one charge of a shared volume in use on an agent:
// its disk, of resvRole's reservation, allocated to framework under role
// (the allocation the first task using it took it from).
type sharedCharge struct {
	framework, role, resvRole string
	disk                      policy.Resources
}

// sharedKey names role's shared volume id on an agent.
func sharedKey(role, id string) string { return role + "/" + id }

// sharedDisk is the disk of the shared volumes among rs.
func sharedDisk(rs []*messages.Resource) policy.Resources {
	var out policy.Resources
	for _, r := range rs {
		if r.Shared && messages.IsVolume(r) {
			_, _, resv, err := policy.FromMessagesReserved([]*messages.Resource{r})
			if err == nil {
				out = out.Add(resv[r.Role])
			}
		}
	}
	return out
}

// chargeShared records that role's shared volume v on a is charged to
// framework's allocation role, its disk held on the agent.
func (b *Books) chargeShared(a *agentRecord, v *messages.Resource, framework, role string) {
	if a.shared == nil {
		a.shared = map[string]*sharedCharge{}
	}
	disk := sharedDisk([]*messages.Resource{v})
	a.shared[sharedKey(v.Role, v.Disk.PersistenceId)] = &sharedCharge{framework: framework, role: role, resvRole: v.Role, disk: disk}
	a.used = a.used.Add(disk)
	b.sharedCharges++
}

// releaseShared settles the charges of the shared volumes ended task t
// used. A charge stays with its holder while a live task of the holder's
// framework and role uses the volume; when none does, it moves to another
// live user (moved, for the allocator: chargeMove), or, when the volume has
// no live user left, it is dropped and returned (the result). So a shared
// volume in use is always charged once, to a framework that uses it: as in
// Mesos, whose sorter charges each framework holding a copy of a shared
// resource until it recovers its last copy (sorter/drf/sorter.hpp), here
// with one charge in all. The charged framework's removal (teardown,
// failover timeout) ends its tasks first, so its charges have moved on by
// the time it goes.
func (b *Books) releaseShared(a *agentRecord, t *taskRecord) (freed []*sharedCharge, moved []chargeMove) {
	for _, v := range t.task.GetResources() {
		if !v.Shared || !messages.IsVolume(v) {
			continue
		}
		k := sharedKey(v.Role, v.Disk.PersistenceId)
		ch := a.shared[k]
		if ch == nil || volumeUsedBy(a, v.Role, v.Disk.PersistenceId, ch.framework, ch.role) {
			continue
		}
		if next := nextVolumeHolder(a, v.Role, v.Disk.PersistenceId, ch.resvRole); next != nil {
			m := chargeMove{volume: k, resvRole: ch.resvRole, disk: ch.disk,
				from: policy.Holder{FrameworkID: ch.framework, Role: ch.role},
				to:   policy.Holder{FrameworkID: next.frameworkID(), Role: next.task.Role}}
			ch.framework, ch.role = m.to.FrameworkID, m.to.Role
			moved = append(moved, m)
			continue
		}
		delete(a.shared, k)
		a.used = a.used.Sub(ch.disk)
		b.sharedCharges--
		freed = append(freed, ch)
	}
	return freed, moved
}

// chargeMove is a shared volume's charge (of resvRole's reservation)
// moved from one user to another.
type chargeMove struct {
	volume, resvRole string
	disk             policy.Resources
	from, to         policy.Holder
}

// usesVolume reports whether live task t uses role's volume id.
func usesVolume(t *taskRecord, role, id string) bool {
	if messages.IsTerminal(t.task.State) {
		return false
	}
	for _, r := range t.task.Resources {
		if messages.IsVolume(r) && r.Role == role && r.Disk.PersistenceId == id {
			return true
		}
	}
	return false
}

// volumeUsedBy reports whether a live task of framework under role uses
// role's volume id on a.
func volumeUsedBy(a *agentRecord, volRole, id, framework, role string) bool {
	for k, t := range a.tasks {
		if k.framework == framework && t.task.Role == role && usesVolume(t, volRole, id) {
			return true
		}
	}
	return false
}

// nextVolumeHolder is the live user of role's volume id on a that its
// charge (of resvRole's reservation) moves to: the least by framework,
// then task ID, so that the choice does not depend on the map's order.
// Only a task whose role may hold the reservation (policy.AllocatableTo)
// may be charged: the allocator would refuse the others. Nil when there is
// none.
func nextVolumeHolder(a *agentRecord, role, id, resvRole string) *taskRecord {
	var next *taskRecord
	for k, t := range a.tasks {
		if usesVolume(t, role, id) && policy.AllocatableTo(resvRole, t.task.Role) && (next == nil || k.compare(taskKey{next.frameworkID(), next.id()}) < 0) {
			next = t
		}
	}
	return next
}

// dropSharedCharges forgets the charges of a framework being removed (the
// allocator frees them with it). A framework is removed once its last
// task ended, and its charges moved on or were released then
// (releaseShared): this finds none unless the books broke that rule, and
// then keeps them in step with the allocator's.
func (b *Books) dropSharedCharges(framework string) {
	if b.sharedCharges == 0 {
		return
	}
	for _, a := range b.agents {
		for k, ch := range a.shared {
			if ch.framework == framework {
				delete(a.shared, k)
				a.used = a.used.Sub(ch.disk)
				b.sharedCharges--
			}
		}
	}
}

// withVolumes is an offer's resources res of role's reservation on a with
// the disk of the volumes no live task uses named as those volumes, as far
// as the offered disk goes: the framework sees its volumes back. When it
// shares resources (SHARED_RESOURCES), the shared volumes in use are added
// (their disk is charged already, not in the offer's pools); when it does
// not, shared volumes are left out, their disk too.
func withVolumes(res []*messages.Resource, a *agentRecord, role string, shares bool) []*messages.Resource {
	var vols, hidden, again []*messages.Resource
	for _, r := range a.info.Resources {
		if !messages.IsVolume(r) || r.Role != role {
			continue
		}
		inUse := volumeUser(a, role, r.Disk.PersistenceId) != ""
		switch {
		case r.Shared && !shares:
			if !inUse {
				hidden = append(hidden, r)
			}
		case r.Shared && inUse:
			again = append(again, r)
		case !inUse:
			vols = append(vols, r)
		}
	}
	if len(vols)+len(hidden) > 0 {
		for _, r := range res {
			if r.Name != messages.Disk || messages.IsVolume(r) {
				continue
			}
			for _, v := range vols {
				if v.Scalar <= r.Scalar+diskEpsilon {
					r.Scalar -= v.Scalar
					res = append(res, proto.Clone(v).(*messages.Resource))
				}
			}
			for _, v := range hidden {
				if v.Scalar <= r.Scalar+diskEpsilon {
					r.Scalar -= v.Scalar
				}
			}
			break
		}
		res = dropEmptyDisk(res)
	}
	for _, v := range again {
		res = append(res, proto.Clone(v).(*messages.Resource))
	}
	return res
}

// withTaskVolumes is a task's reserved resources msgs with the disk of the
// volumes task t names shown as those volumes (same sums): the books then
// know which task holds which volume (volumeUser).
func withTaskVolumes(msgs []*messages.Resource, t *messages.TaskInfo) []*messages.Resource {
	for _, v := range t.GetResources() {
		if !messages.IsVolume(v) {
			continue
		}
		if v.Shared {
			// Charged to the agent, not carved out of the task's own.
			msgs = append(msgs, proto.Clone(v).(*messages.Resource))
			continue
		}
		for _, m := range msgs {
			if m.Name == messages.Disk && !messages.IsVolume(m) && m.Role == v.Role && m.Scalar+diskEpsilon >= v.Scalar {
				m.Scalar -= v.Scalar
				msgs = append(msgs, proto.Clone(v).(*messages.Resource))
				break
			}
		}
	}
	return dropEmptyDisk(msgs)
}

// dropEmptyDisk drops, in place, the disk entries that splitting off
// volumes left empty.
func dropEmptyDisk(rs []*messages.Resource) []*messages.Resource {
	out := rs[:0]
	for _, r := range rs {
		if r.Name != messages.Disk || r.Scalar > diskEpsilon {
			out = append(out, r)
		}
	}
	return out
}

// sameVolume reports whether r names volume v as it is (size and
// container path), as Mesos matches a volume resource whole.
func sameVolume(v, r *messages.Resource) bool {
	return v.Disk.ContainerPath == r.Disk.ContainerPath && v.Scalar-r.Scalar <= diskEpsilon && r.Scalar-v.Scalar <= diskEpsilon
}

// ManageVolumes creates or destroys persistent volumes on an agent's
// reserved disk for an operator (Mesos' CREATE_VOLUMES and DESTROY_VOLUMES,
// agora volumes create|destroy), under the create_volumes and
// destroy_volumes lists as a framework's CREATE and DESTROY. The agent's
// outstanding offers are rescinded first, so that the disk a volume takes
// is what no task holds, as the books say.
func (c *Core) ManageVolumes(p Peer, msg *messages.OperatorVolumes, now time.Time) Ready {
	if p.authenticated() && p.Role != RoleOperator {
		c.deny(p, DeniedIdentity, fmt.Sprintf("only operators change volumes on agents; this connection is %s's", p), msg)
		return c.ready()
	}
	a, ok := c.books.agents[msg.GetAgentId().GetValue()]
	if !ok || !a.reachable {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_AGENT, fmt.Sprintf("no reachable agent %q (agora agents lists them)", msg.GetAgentId().GetValue()), msg)
		return c.ready()
	}
	role := reservedRole(msg.Volumes)
	if role == "" {
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, "name volumes of one role, such as disk(prod):512 with a persistence id and container path", msg)
		return c.ready()
	}
	for _, o := range ordered(a.offers, strings.Compare) {
		c.rescind(o, "an operator changes the agent's volumes")
	}
	// A volume to destroy that no task uses is free, as is the disk a
	// new one takes: both are of role's reservation that no task holds.
	avail := c.freeOn(a, role, true)
	where := fmt.Sprintf("role %s and held by no task on agent %s", role, a.id())
	if code, err := c.changeVolumes(p.Principal, "operator "+p.String(), a, role, msg.Volumes, avail, where, msg.Destroy); err != nil {
		c.reject(p.Endpoint, code, err.Error(), msg)
		return c.ready()
	}
	verb := "created"
	if msg.Destroy {
		verb = "destroyed"
	}
	ids := make([]string, len(msg.Volumes))
	for i, v := range msg.Volumes {
		ids[i] = v.Disk.PersistenceId
	}
	c.send(p.Endpoint, &messages.OperatorAccepted{Message: fmt.Sprintf("volumes %s of role %s %s on agent %s", strings.Join(ids, ","), role, verb, a.id())})
	return c.ready()
}
