package messages

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Reservations on an agent's resources. Static ones come from the agent's
// --resources (cpus(prod):4) and change only with it; dynamic ones are made
// at run time (RESERVE), carry a ReservationInfo of type DYNAMIC, and are
// what the agent checkpoints (CheckpointResources). An agent's resources
// are its static resources with its dynamic reservations carved out of the
// unreserved part.

// MaxDynamicReservations bounds what one agent checkpoints.
const MaxDynamicReservations = 1024

// IsDynamic reports whether r is a dynamic reservation.
func IsDynamic(r *Resource) bool {
	return r.GetReservation().GetType() == ReservationInfo_DYNAMIC && r.Role != "" && r.Role != "*"
}

// Unreserved returns copies of rs with their reservations dropped.
func Unreserved(rs []*Resource) []*Resource {
	out := make([]*Resource, len(rs))
	for i, r := range rs {
		c := proto.Clone(r).(*Resource)
		c.Role, c.Reservation, c.Disk = "", nil, nil
		out[i] = c
	}
	return out
}

// SplitDynamic separates an agent's reported resources into what its
// --resources would give (static, the dynamic reservations given back to
// the unreserved pool) and its dynamic reservations.
func SplitDynamic(rs []*Resource) (static, dynamic []*Resource) {
	var rest []*Resource
	for _, r := range rs {
		if IsDynamic(r) {
			dynamic = append(dynamic, proto.Clone(r).(*Resource))
		} else {
			rest = append(rest, r)
		}
	}
	return SumResources(rest, Unreserved(dynamic)), dynamic
}

// ApplyReservations carves dynamic reservations out of the unreserved part
// of static. It fails when they do not fit (the agent was restarted with
// fewer resources than it had reserved) or are not dynamic reservations.
func ApplyReservations(static, dynamic []*Resource) ([]*Resource, error) {
	if len(dynamic) > MaxDynamicReservations {
		return nil, fmt.Errorf("%w: %d dynamic reservations, over the limit of %d", ErrBadResource, len(dynamic), MaxDynamicReservations)
	}
	if err := ValidateResources(dynamic); err != nil {
		return nil, err
	}
	for _, r := range dynamic {
		if !IsDynamic(r) || r.Revocable {
			return nil, fmt.Errorf("%w: %s is not a dynamic reservation (a role and a DYNAMIC ReservationInfo, not revocable)", ErrBadResource, r.Name)
		}
		if r.Reservation.Role != "" && r.Reservation.Role != r.Role {
			return nil, fmt.Errorf("%w: %s reserved for %q says role %q in its ReservationInfo", ErrBadResource, r.Name, r.Role, r.Reservation.Role)
		}
		// A volume's id and path name directories on the agent.
		if r.Disk != nil {
			if err := ValidateVolume(r); err != nil {
				return nil, err
			}
		}
	}
	carve := Unreserved(dynamic)
	if !ContainsResources(static, carve) {
		return nil, fmt.Errorf("%w: dynamic reservations %s exceed the unreserved resources %s", ErrBadResource, FormatResources(SumResources(carve)), FormatResources(static))
	}
	out := SubtractResources(static, carve)
	for _, r := range dynamic {
		out = append(out, proto.Clone(r).(*Resource))
	}
	return out, nil
}
