package mesosapi

import (
	"maps"
	"math"
	"net"
	"slices"
	"strconv"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// The OFFERS event written straight from Agora's offers, in both codecs:
// the bytes the generic encoders write for sched.Event{OFFERS,
// offersOut(os, multiRole, refinement)}, without building the Mesos
// messages or walking them by reflection. A framework's first OFFERS
// event on a 1,000-agent cluster holds 1,000 offers, and building and
// encoding it was most of the bridge's share of SUBSCRIBE to first
// offers. TestOffersEventMatchesGeneric and FuzzOffersEvent check the
// bytes against the generic path; what that path does is the contract
// (resources.go), this is only its fast twin.
//
// false: an offer has a part left to the generic encoders (a resource
// with disk info: persistent volumes).

// offersDirect says whether the direct encoders write every part of os.
func offersDirect(os []*messages.Offer) bool {
	for _, o := range os {
		for _, r := range o.Resources {
			if r.Disk != nil {
				return false
			}
		}
	}
	return true
}

// offerURL is the agent's URL an offer carries (Offer.url), as offer
// builds it: only for an agent HTTP address with a valid port; ip only
// when the address's host is an IP.
func offerURL(o *messages.Offer) (ip string, hasIP bool, port int32, ok bool) {
	host, p, err := net.SplitHostPort(o.AgentHttpAddress)
	if err != nil {
		return "", false, 0, false
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", false, 0, false
	}
	return host, net.ParseIP(host) != nil, int32(n), true
}

// appendOffersJSON writes the OFFERS event in Mesos' JSON. Fields go in
// the order the generic encoder writes them, the order the .proto files
// declare them.
func appendOffersJSON(b []byte, os []*messages.Offer, multiRole, refinement bool) ([]byte, bool) {
	if !offersDirect(os) {
		return b, false
	}
	b = append(b, `{"type":"OFFERS","offers":{`...)
	if len(os) > 0 {
		b = append(b, `"offers":[`...)
		for i, o := range os {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOfferJSON(b, o, multiRole, refinement)
		}
		b = append(b, ']')
	}
	return append(b, "}}"...), true
}

// jsonValue writes {"value":s}, the shape of every Mesos ID.
func jsonValue(b []byte, s string) []byte {
	b = append(b, `{"value":`...)
	b = appendString(b, s)
	return append(b, '}')
}

func appendOfferJSON(b []byte, o *messages.Offer, multiRole, refinement bool) []byte {
	// Offer: id, framework_id, agent_id, hostname, url, domain, resources,
	// attributes, executor_ids, unavailability, allocation_info.
	b = append(b, `{"id":`...)
	b = jsonValue(b, o.GetId().GetValue())
	b = append(b, `,"framework_id":`...)
	b = jsonValue(b, o.GetFrameworkId().GetValue())
	b = append(b, `,"agent_id":`...)
	b = jsonValue(b, o.GetAgentId().GetValue())
	b = append(b, `,"hostname":`...)
	b = appendString(b, o.Hostname)
	if ip, hasIP, port, ok := offerURL(o); ok {
		b = append(b, `,"url":{"scheme":"http","address":{"hostname":`...)
		b = appendString(b, o.Hostname)
		if hasIP {
			b = append(b, `,"ip":`...)
			b = appendString(b, ip)
		}
		b = append(b, `,"port":`...)
		b = strconv.AppendInt(b, int64(port), 10)
		b = append(b, "}}"...)
	}
	allocated := ""
	if multiRole {
		allocated = o.Role
	}
	if len(o.Resources) > 0 {
		b = append(b, `,"resources":[`...)
		for i, r := range o.Resources {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendResourceJSON(b, r, allocated, refinement)
		}
		b = append(b, ']')
	}
	n := 0
	for _, a := range o.Attributes {
		// Attribute: name, type, scalar, ranges, set, text.
		switch v := a.Value.(type) {
		case *messages.Attribute_Text:
			b = attributeStart(b, n, a.Name, `"TEXT"`)
			b = append(b, `,"text":`...)
			b = jsonValue(b, v.Text)
		case *messages.Attribute_Scalar:
			b = attributeStart(b, n, a.Name, `"SCALAR"`)
			b = append(b, `,"scalar":{"value":`...)
			b = appendFloat(b, v.Scalar, 64)
			b = append(b, '}')
		default:
			continue
		}
		b = append(b, '}')
		n++
	}
	if n > 0 {
		b = append(b, ']')
	}
	if multiRole {
		b = append(b, `,"allocation_info":{"role":`...)
		b = appendString(b, o.Role)
		b = append(b, '}')
	}
	return append(b, '}')
}

// attributeStart opens the n-th attribute (and the list, for the first).
func attributeStart(b []byte, n int, name, typ string) []byte {
	if n == 0 {
		b = append(b, `,"attributes":[`...)
	} else {
		b = append(b, ',')
	}
	b = append(b, `{"name":`...)
	b = appendString(b, name)
	b = append(b, `,"type":`...)
	return append(b, typ...)
}

func appendResourceJSON(b []byte, r *messages.Resource, allocated string, refinement bool) []byte {
	// Resource: provider_id, name, type, scalar, ranges, set, role,
	// allocation_info, reservation, reservations, disk, revocable, shared.
	b = append(b, `{"name":`...)
	b = appendString(b, r.Name)
	if len(r.Ranges) > 0 || r.Name == "ports" {
		b = append(b, `,"type":"RANGES","ranges":{`...)
		if len(r.Ranges) > 0 {
			b = append(b, `"range":[`...)
			for i, rg := range r.Ranges {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"begin":`...)
				b = strconv.AppendUint(b, rg.Begin, 10)
				b = append(b, `,"end":`...)
				b = strconv.AppendUint(b, rg.End, 10)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	} else {
		b = append(b, `,"type":"SCALAR","scalar":{"value":`...)
		b = appendFloat(b, r.Scalar, 64)
		b = append(b, '}')
	}
	dynamic := r.Role != "" && messages.IsDynamic(r)
	if r.Role != "" && !refinement {
		b = append(b, `,"role":`...)
		b = appendString(b, r.Role)
	}
	if allocated != "" {
		b = append(b, `,"allocation_info":{"role":`...)
		b = appendString(b, allocated)
		b = append(b, '}')
	}
	switch {
	case r.Role != "" && refinement:
		b = append(b, `,"reservations":[{"type":`...)
		if dynamic {
			b = append(b, `"DYNAMIC","role":`...)
			b = appendString(b, r.Role)
			b = append(b, ',')
			b = appendReservationTailJSON(b, r.Reservation)
		} else {
			b = append(b, `"STATIC","role":`...)
			b = appendString(b, r.Role)
		}
		b = append(b, "}]"...)
	case dynamic:
		b = append(b, `,"reservation":{`...)
		b = appendReservationTailJSON(b, r.Reservation)
		b = append(b, '}')
	}
	if r.Revocable {
		b = append(b, `,"revocable":{}`...)
	}
	return append(b, '}')
}

// appendReservationTailJSON writes a dynamic reservation's principal and
// labels.
func appendReservationTailJSON(b []byte, res *messages.ReservationInfo) []byte {
	b = append(b, `"principal":`...)
	b = appendString(b, res.Principal)
	if len(res.Labels) > 0 {
		b = append(b, `,"labels":{"labels":[`...)
		for i, k := range slices.Sorted(maps.Keys(res.Labels)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"key":`...)
			b = appendString(b, k)
			b = append(b, `,"value":`...)
			b = appendString(b, res.Labels[k])
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	return b
}

// appendOffersProto writes the OFFERS event in protobuf: fields in field
// number order, as proto.Marshal writes them.
func appendOffersProto(b []byte, os []*messages.Offer, multiRole, refinement bool) ([]byte, bool) {
	if !offersDirect(os) {
		return b, false
	}
	b = protowire.AppendTag(b, 1, protowire.VarintType) // Event.type
	b = protowire.AppendVarint(b, 2)                    // OFFERS
	b, ev := pbOpen(b, 3, 3)                            // Event.offers
	for _, o := range os {
		var off int
		b, off = pbOpen(b, 1, 2) // Offers.offers
		b = appendOfferProto(b, o, multiRole, refinement)
		b = pbClose(b, off, 2)
	}
	return pbClose(b, ev, 3), true
}

// pbOpen starts a length-delimited field, leaving reserve bytes for its
// length (pbClose fixes that up); it returns where the content starts.
func pbOpen(b []byte, num protowire.Number, reserve int) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	for range reserve {
		b = append(b, 0)
	}
	return b, len(b)
}

// pbClose writes the length of the field pbOpen started at start, moving
// its content when the length takes other than reserve bytes.
func pbClose(b []byte, start, reserve int) []byte {
	n := len(b) - start
	k := protowire.SizeVarint(uint64(n))
	if k != reserve {
		if k > reserve {
			b = slices.Grow(b, k-reserve)[:len(b)+k-reserve]
		}
		copy(b[start+k-reserve:], b[start:start+n])
		b = b[:start+k-reserve+n]
	}
	protowire.AppendVarint(b[:start-reserve], uint64(n))
	return b
}

// pbString writes a string field.
func pbString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// pbValue writes a message field holding one string field 1 (every
// Mesos ID: {value}; AllocationInfo: {role}; Value.Text).
func pbValue(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(s))))
	return pbString(b, 1, s)
}

// pbScalar writes a Value.Scalar field: {value: f}.
func pbScalar(b []byte, num protowire.Number, f float64) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, 9)
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(f))
}

func pbVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendOfferProto(b []byte, o *messages.Offer, multiRole, refinement bool) []byte {
	// Offer: id 1, framework_id 2, agent_id 3, hostname 4, resources 5,
	// attributes 7, url 8, allocation_info 10.
	b = pbValue(b, 1, o.GetId().GetValue())
	b = pbValue(b, 2, o.GetFrameworkId().GetValue())
	b = pbValue(b, 3, o.GetAgentId().GetValue())
	b = pbString(b, 4, o.Hostname)
	allocated := ""
	if multiRole {
		allocated = o.Role
	}
	for _, r := range o.Resources {
		var off int
		b, off = pbOpen(b, 5, 1)
		b = appendResourceProto(b, r, allocated, refinement)
		b = pbClose(b, off, 1)
	}
	for _, a := range o.Attributes {
		// Attribute: name 1, type 2, scalar 3, text 5.
		switch v := a.Value.(type) {
		case *messages.Attribute_Text:
			var off int
			b, off = pbOpen(b, 7, 1)
			b = pbString(b, 1, a.Name)
			b = pbVarint(b, 2, uint64(mesos.Value_TEXT))
			b = pbValue(b, 5, v.Text)
			b = pbClose(b, off, 1)
		case *messages.Attribute_Scalar:
			var off int
			b, off = pbOpen(b, 7, 1)
			b = pbString(b, 1, a.Name)
			b = pbVarint(b, 2, uint64(mesos.Value_SCALAR))
			b = pbScalar(b, 3, v.Scalar)
			b = pbClose(b, off, 1)
		}
	}
	if ip, hasIP, port, ok := offerURL(o); ok {
		// URL: scheme 1, address 2; Address: hostname 1, ip 2, port 3.
		var url, addr int
		b, url = pbOpen(b, 8, 1)
		b = pbString(b, 1, "http")
		b, addr = pbOpen(b, 2, 1)
		b = pbString(b, 1, o.Hostname)
		if hasIP {
			b = pbString(b, 2, ip)
		}
		b = pbVarint(b, 3, uint64(int64(port)))
		b = pbClose(b, addr, 1)
		b = pbClose(b, url, 1)
	}
	if multiRole {
		b = pbValue(b, 10, o.Role)
	}
	return b
}

func appendResourceProto(b []byte, r *messages.Resource, allocated string, refinement bool) []byte {
	// Resource: name 1, type 2, scalar 3, ranges 4, role 6, reservation 8,
	// revocable 9, allocation_info 11, reservations 13.
	b = pbString(b, 1, r.Name)
	if len(r.Ranges) > 0 || r.Name == "ports" {
		b = pbVarint(b, 2, uint64(mesos.Value_RANGES))
		var off int
		b, off = pbOpen(b, 4, 1)
		for _, rg := range r.Ranges {
			// Range: begin 1, end 2.
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(2+protowire.SizeVarint(rg.Begin)+protowire.SizeVarint(rg.End)))
			b = pbVarint(b, 1, rg.Begin)
			b = pbVarint(b, 2, rg.End)
		}
		b = pbClose(b, off, 1)
	} else {
		b = pbVarint(b, 2, uint64(mesos.Value_SCALAR))
		b = pbScalar(b, 3, r.Scalar)
	}
	dynamic := r.Role != "" && messages.IsDynamic(r)
	if r.Role != "" && !refinement {
		b = pbString(b, 6, r.Role)
		if dynamic {
			var off int
			b, off = pbOpen(b, 8, 1)
			b = appendReservationTailProto(b, r.Reservation)
			b = pbClose(b, off, 1)
		}
	}
	if r.Revocable {
		b = protowire.AppendTag(b, 9, protowire.BytesType)
		b = append(b, 0)
	}
	if allocated != "" {
		b = pbValue(b, 11, allocated)
	}
	if r.Role != "" && refinement {
		// ReservationInfo: principal 1, labels 2, role 3, type 4.
		var off int
		b, off = pbOpen(b, 13, 1)
		typ := mesos.Resource_ReservationInfo_STATIC
		if dynamic {
			typ = mesos.Resource_ReservationInfo_DYNAMIC
			b = appendReservationTailProto(b, r.Reservation)
		}
		b = pbString(b, 3, r.Role)
		b = pbVarint(b, 4, uint64(typ))
		b = pbClose(b, off, 1)
	}
	return b
}

// appendReservationTailProto writes a dynamic reservation's principal
// (1) and labels (2).
func appendReservationTailProto(b []byte, res *messages.ReservationInfo) []byte {
	b = pbString(b, 1, res.Principal)
	if len(res.Labels) > 0 {
		// Labels: labels 1; Label: key 1, value 2.
		var off int
		b, off = pbOpen(b, 2, 1)
		for _, k := range slices.Sorted(maps.Keys(res.Labels)) {
			var l int
			b, l = pbOpen(b, 1, 1)
			b = pbString(b, 1, k)
			b = pbString(b, 2, res.Labels[k])
			b = pbClose(b, l, 1)
		}
		b = pbClose(b, off, 1)
	}
	return b
}
