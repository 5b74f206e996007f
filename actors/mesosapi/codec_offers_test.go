package mesosapi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/agora-sched/agora/messages"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
)

// offersEncoders are the direct encoders by codec.
var offersEncoders = []struct {
	codec  Codec
	direct func([]byte, []*messages.Offer, bool, bool) ([]byte, bool)
}{{ProtobufCodec, appendOffersProto}, {JSONCodec, appendOffersJSON}}

func genericOffers(t testing.TB, c Codec, os []*messages.Offer, multiRole, refinement bool) []byte {
	b, err := c.Append(nil, &sched.Event{Type: sched.Event_OFFERS.Enum(), Offers: &sched.Event_Offers{Offers: offersOut(os, multiRole, refinement)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkOffersDirect fails t unless each direct encoder writes the generic
// encoder's bytes for os, after what the buffer already holds.
func checkOffersDirect(t testing.TB, os []*messages.Offer, multiRole, refinement bool) {
	for _, e := range offersEncoders {
		fast, ok := e.direct([]byte("x"), os, multiRole, refinement)
		if !ok {
			t.Fatalf("%s: the direct encoder did not take %v", e.codec.MediaType, os)
		}
		if want := genericOffers(t, e.codec, os, multiRole, refinement); !bytes.Equal(fast[1:], want) || fast[0] != 'x' {
			t.Fatalf("%s, multiRole %v, refinement %v, %v:\n direct  %q\n generic %q", e.codec.MediaType, multiRole, refinement, os, fast, want)
		}
	}
}

func sampleOffers() []*messages.Offer {
	id := func(i int) (*messages.OfferID, *messages.FrameworkID, *messages.AgentID) {
		return &messages.OfferID{Value: fmt.Sprintf("O%d", i)}, &messages.FrameworkID{Value: "F1"}, &messages.AgentID{Value: fmt.Sprintf("A%d", i)}
	}
	o := func(i int, addr string, rs []*messages.Resource, as ...*messages.Attribute) *messages.Offer {
		oid, fid, aid := id(i)
		return &messages.Offer{Id: oid, FrameworkId: fid, AgentId: aid, Hostname: fmt.Sprintf("agent-%d", i), Role: "r", AgentHttpAddress: addr, Resources: rs, Attributes: as}
	}
	// A large offer: its length takes more than the bytes reserved for it.
	many := make([]*messages.Resource, 200)
	for i := range many {
		many[i] = &messages.Resource{Name: fmt.Sprintf("gpu%d", i), Scalar: float64(i) / 3}
	}
	return []*messages.Offer{
		o(1, "10.0.0.1:5051", []*messages.Resource{{Name: "cpus", Scalar: 32}, {Name: "mem", Scalar: 65536}, {Name: "disk", Scalar: 1 << 20},
			{Name: "ports", Ranges: []*messages.Range{{Begin: 31000, End: 32000}, {Begin: 1 << 40, End: math.MaxUint64}}}}),
		o(2, "agent-2:5051", []*messages.Resource{{Name: "ports"}, {Name: "cpus", Scalar: 0.1, Role: "prod"}, {Name: "mem", Scalar: 1e-7, Revocable: true},
			{Name: "cpus", Scalar: 2, Role: "prod", Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "prod", Principal: "ops",
				Labels: map[string]string{"b": "2", "a": "\"1\"\n", "": ""}}},
			{Name: "mem", Scalar: 5, Role: "prod", Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "prod"}},
			{Name: "mem", Scalar: 6, Role: "*", Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "*"}},
			{Name: "cpus", Scalar: math.Inf(1)}, {Name: "cpus", Scalar: math.NaN()}, {Name: "ranges", Ranges: []*messages.Range{{}}}},
			&messages.Attribute{Name: "rack", Value: &messages.Attribute_Text{Text: "r1é\x01"}}, &messages.Attribute{Name: "weight", Value: &messages.Attribute_Scalar{Scalar: 2.5}},
			&messages.Attribute{Name: "empty"}),
		o(3, "[::1]:5051", nil),
		o(4, "10.0.0.1:99999", nil),
		o(5, "", []*messages.Resource{{Name: "cpus", Scalar: -1}}),
		o(6, "host:0", many),
		{},
	}
}

// TestOffersEventMatchesGeneric: the OFFERS event written straight from
// Agora's offers is, byte for byte, what the Mesos messages of offersOut
// encode to, in both codecs and for each kind of framework.
func TestOffersEventMatchesGeneric(t *testing.T) {
	all := sampleOffers()
	for _, multiRole := range []bool{false, true} {
		for _, refinement := range []bool{false, true} {
			checkOffersDirect(t, all, multiRole, refinement)
			checkOffersDirect(t, nil, multiRole, refinement)
			for i := range all {
				checkOffersDirect(t, all[i:i+1], multiRole, refinement)
			}
		}
	}
	// 1,000 offers: the event's length takes more bytes than reserved.
	big := make([]*messages.Offer, 0, 1000)
	for len(big) < 1000 {
		big = append(big, all[:6]...)
	}
	checkOffersDirect(t, big, true, false)

	disk := []*messages.Offer{{Resources: []*messages.Resource{{Name: "disk", Scalar: 1, Disk: &messages.DiskInfo{PersistenceId: "v"}}}}}
	for _, e := range offersEncoders {
		if _, ok := e.direct(nil, disk, true, true); ok {
			t.Errorf("%s: an offer with a persistent volume was taken; it is the generic encoder's", e.codec.MediaType)
		}
	}
}

// pbClose moves a field's content when its length does not take the
// bytes reserved for it, in either direction.
func TestPBCloseMovesContent(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 1 << 21} {
		for reserve := 1; reserve <= 3; reserve++ {
			b, off := pbOpen([]byte("x"), 1, reserve)
			content := bytes.Repeat([]byte{'c'}, n)
			b = pbClose(append(b, content...), off, reserve)
			want := binary.AppendUvarint([]byte("x\x0a"), uint64(n))
			want = append(want, content...)
			if !bytes.Equal(b, want) {
				t.Fatalf("%d bytes, %d reserved: %d bytes written, want %d", n, reserve, len(b), len(want))
			}
		}
	}
}

// offersFrom decodes fuzz input into offers: each byte picks what comes
// next, so the fuzzer reaches every kind of resource, reservation,
// attribute and address.
func offersFrom(data []byte) []*messages.Offer {
	d := fuzzBytes(data)
	var os []*messages.Offer
	for len(d) > 0 && len(os) < 50 {
		o := &messages.Offer{Id: &messages.OfferID{Value: d.str()}, FrameworkId: &messages.FrameworkID{Value: d.str()}, AgentId: &messages.AgentID{Value: d.str()},
			Hostname: d.str(), Role: d.str()}
		switch d.byte() % 4 {
		case 0:
			o.AgentHttpAddress = d.str()
		case 1:
			o.AgentHttpAddress = fmt.Sprintf("10.0.%d.1:%d", d.byte(), d.u64()%70000)
		case 2:
			o.AgentHttpAddress = fmt.Sprintf("%s:%d", d.str(), d.u64()%70000)
		}
		if d.byte()%8 == 0 {
			o.Id, o.FrameworkId, o.AgentId = nil, nil, nil
		}
		for range d.byte() % 6 {
			r := &messages.Resource{Name: d.str()}
			switch d.byte() % 4 {
			case 0:
				r.Name = "ports"
			case 1:
				for range d.byte() % 4 {
					r.Ranges = append(r.Ranges, &messages.Range{Begin: d.u64(), End: d.u64()})
				}
			}
			if len(r.Ranges) == 0 {
				r.Scalar = math.Float64frombits(d.u64())
				if d.byte()%2 == 0 {
					r.Scalar = float64(d.u64()%100000) / 10
				}
			}
			switch d.byte() % 4 {
			case 1:
				r.Role = d.str()
			case 2, 3:
				r.Role = d.str()
				r.Reservation = &messages.ReservationInfo{Type: messages.ReservationInfo_Type(d.byte() % 3), Role: r.Role, Principal: d.str()}
				for range d.byte() % 3 {
					if r.Reservation.Labels == nil {
						r.Reservation.Labels = map[string]string{}
					}
					r.Reservation.Labels[d.str()] = d.str()
				}
			}
			r.Revocable = d.byte()%4 == 0
			o.Resources = append(o.Resources, r)
		}
		for range d.byte() % 3 {
			a := &messages.Attribute{Name: d.str()}
			switch d.byte() % 3 {
			case 0:
				a.Value = &messages.Attribute_Text{Text: d.str()}
			case 1:
				a.Value = &messages.Attribute_Scalar{Scalar: math.Float64frombits(d.u64())}
			}
			o.Attributes = append(o.Attributes, a)
		}
		os = append(os, o)
	}
	return os
}

// fuzzBytes hands out fuzz input; past its end, zeros.
type fuzzBytes []byte

func (d *fuzzBytes) byte() byte {
	if len(*d) == 0 {
		return 0
	}
	c := (*d)[0]
	*d = (*d)[1:]
	return c
}

func (d *fuzzBytes) u64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = d.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

// str is a string of up to 15 bytes, any bytes (invalid UTF-8 too).
func (d *fuzzBytes) str() string {
	n := int(d.byte() % 16)
	n = min(n, len(*d))
	s := string((*d)[:n])
	*d = (*d)[n:]
	return s
}

// FuzzOffersEvent: for any offers, the direct encoders write the generic
// encoders' bytes.
func FuzzOffersEvent(f *testing.F) {
	f.Add([]byte("\x02O1\x02F1\x02A1\x06agent1\x01r\x01\x07\x05cpus\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00"), true, false)
	f.Add(bytes.Repeat([]byte{3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0x80}, 20), false, true)
	f.Add([]byte("\x01a\x01b\x01c\x01d\x01e\x02\x00\x05\x02\x01\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x01p\x02\x01q\x02\x01k\x01v\x00\x02\x00\x01t\x01\x03\x00"), true, true)
	f.Fuzz(func(t *testing.T, data []byte, multiRole, refinement bool) {
		checkOffersDirect(t, offersFrom(data), multiRole, refinement)
	})
}
