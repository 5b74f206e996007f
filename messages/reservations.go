package messages

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Reservations on an agent's resources. Static ones come from the agent's
// --resources (cpus(prod):4) and change only with it; dynamic ones are made
// at run time (RESERVE) and carry a ReservationInfo of type DYNAMIC.
// Persistent volumes (CREATE) are made on either kind of reserved disk.
// What the agent checkpoints (CheckpointResources) is what its
// --resources cannot say, as Mesos' needCheckpointing: its dynamic
// reservations (volumes on them included) and its volumes on static
// reservations. An agent's resources are its static resources with the
// dynamic reservations carved out of the unreserved part and the volumes
// on static reservations out of their role's statically reserved disk.

// MaxDynamicReservations bounds what one agent checkpoints.
const MaxDynamicReservations = 1024

// IsDynamic reports whether r is a dynamic reservation.
func IsDynamic(r *Resource) bool {
	return r.GetReservation().GetType() == ReservationInfo_DYNAMIC && r.Role != "" && r.Role != "*"
}

// IsCheckpointed reports whether r is something an agent checkpoints: a
// dynamic reservation, or a persistent volume on any reservation.
func IsCheckpointed(r *Resource) bool { return IsDynamic(r) || IsVolume(r) }

// checkpointedBase is what checkpointed r takes out of the agent's
// --resources: unreserved resources for a dynamic reservation, plain disk
// of its role's static reservation for a volume on a static one.
func checkpointedBase(rs []*Resource) []*Resource {
	out := make([]*Resource, len(rs))
	for i, r := range rs {
		c := proto.Clone(r).(*Resource)
		if IsDynamic(r) {
			c.Role = ""
		}
		c.Reservation, c.Disk, c.Shared = nil, nil, false
		out[i] = c
	}
	return out
}

// SplitDynamic separates an agent's reported resources into what its
// --resources would give (static: the dynamic reservations given back to
// the unreserved pool, the volumes on static reservations to their role's
// static disk) and what it checkpoints (IsCheckpointed).
func SplitDynamic(rs []*Resource) (static, checkpointed []*Resource) {
	var rest []*Resource
	for _, r := range rs {
		if IsCheckpointed(r) {
			checkpointed = append(checkpointed, proto.Clone(r).(*Resource))
		} else {
			rest = append(rest, r)
		}
	}
	return SumResources(rest, checkpointedBase(checkpointed)), checkpointed
}

// ApplyReservations carves what an agent checkpoints (IsCheckpointed) out
// of static, its --resources: dynamic reservations out of the unreserved
// part, volumes on static reservations out of their role's static disk.
// It fails when they do not fit (the agent was restarted with fewer
// resources than it had reserved) or are neither.
func ApplyReservations(static, checkpointed []*Resource) ([]*Resource, error) {
	if len(checkpointed) > MaxDynamicReservations {
		return nil, fmt.Errorf("%w: %d dynamic reservations and volumes, over the limit of %d", ErrBadResource, len(checkpointed), MaxDynamicReservations)
	}
	if err := ValidateResources(checkpointed); err != nil {
		return nil, err
	}
	for _, r := range checkpointed {
		if !IsCheckpointed(r) || r.Revocable {
			return nil, fmt.Errorf("%w: %s is neither a dynamic reservation (a role and a DYNAMIC ReservationInfo, not revocable) nor a persistent volume", ErrBadResource, r.Name)
		}
		if r.Reservation.GetRole() != "" && r.Reservation.Role != r.Role {
			return nil, fmt.Errorf("%w: %s reserved for %q says role %q in its ReservationInfo", ErrBadResource, r.Name, r.Role, r.Reservation.Role)
		}
		// A volume's id and path name directories on the agent.
		if r.Disk != nil {
			if err := ValidateVolume(r); err != nil {
				return nil, err
			}
		}
	}
	carve := checkpointedBase(checkpointed)
	if !ContainsResources(static, carve) {
		return nil, fmt.Errorf("%w: dynamic reservations and volumes on static reservations take %s, more than the agent's resources %s have unreserved or statically reserved", ErrBadResource, FormatResources(SumResources(carve)), FormatResources(static))
	}
	out := SubtractResources(static, carve)
	for _, r := range checkpointed {
		out = append(out, proto.Clone(r).(*Resource))
	}
	return out, nil
}
