package mesosapi

import (
	"fmt"
	"io"
	"testing"

	"github.com/agora-sched/agora/messages"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
)

// BenchmarkOffersEvent is the bridge's work for a first OFFERS event on
// a 1,000-agent cluster: 1,000 Agora offers encoded straight (direct), and
// mapped to Mesos' and encoded as emit does it (generic).
func BenchmarkOffersEvent(b *testing.B) {
	offers := make([]*messages.Offer, 1000)
	for i := range offers {
		offers[i] = &messages.Offer{Id: &messages.OfferID{Value: fmt.Sprintf("O%d", i)}, FrameworkId: &messages.FrameworkID{Value: "F1"},
			AgentId: &messages.AgentID{Value: fmt.Sprintf("A%d", i)}, Hostname: fmt.Sprintf("agent-%d", i), Role: "r", AgentHttpAddress: "10.0.0.1:5051",
			Resources: []*messages.Resource{{Name: "cpus", Scalar: 32}, {Name: "mem", Scalar: 65536}, {Name: "disk", Scalar: 1 << 20},
				{Name: "ports", Ranges: []*messages.Range{{Begin: 31000, End: 32000}}}}}
	}
	for _, e := range offersEncoders {
		codec := e.codec
		b.Run(codec.MediaType[len("application/"):]+"/direct", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for range b.N {
				buf, _ = e.direct(buf[:0], offers, true, false)
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run(codec.MediaType[len("application/"):]+"/generic", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for range b.N {
				ev := &sched.Event_Offers{Offers: offersOut(offers, true, false)}
				var err error
				if buf, err = codec.Append(buf[:0], &sched.Event{Type: sched.Event_OFFERS.Enum(), Offers: ev}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkOffersToStream is the bridge's side of a new framework's first
// offers on a 1,000-agent cluster, as the master sends them (four Offers
// messages of 256 offers): each encoded onto the stream's outbox, and the
// batch taken by the stream's writer (written to io.Discard). One op is
// the four events; the allocations are what the garbage collector is
// handed per new framework.
func BenchmarkOffersToStream(b *testing.B) {
	msgs := make([]*messages.Offers, 4)
	for m := range msgs {
		offers := make([]*messages.Offer, 256)
		for i := range offers {
			n := m*256 + i
			offers[i] = &messages.Offer{Id: &messages.OfferID{Value: fmt.Sprintf("O%d", n)}, FrameworkId: &messages.FrameworkID{Value: "F1"},
				AgentId: &messages.AgentID{Value: fmt.Sprintf("A%d", n)}, Hostname: fmt.Sprintf("agent-%d", n), Role: "r", AgentHttpAddress: "10.0.0.1:5051",
				Resources: []*messages.Resource{{Name: "cpus", Scalar: 32}, {Name: "mem", Scalar: 65536}, {Name: "disk", Scalar: 1 << 20},
					{Name: "ports", Ranges: []*messages.Range{{Begin: 31000, End: 32000}}}}}
		}
		msgs[m] = &messages.Offers{Offers: offers}
	}
	for _, codec := range []Codec{ProtobufCodec, JSONCodec} {
		b.Run(codec.MediaType[len("application/"):], func(b *testing.B) {
			st := &stream{codec: codec, out: newOutbox(DefaultStreamBuffer)}
			br := &bridge{st: st, fw: framework{multiRole: true}}
			var spare []byte
			b.ReportAllocs()
			for range b.N {
				for _, m := range msgs {
					br.handleOffers(nil, m)
				}
				var err error
				if spare, _, err = st.out.writeTo(io.Discard, spare); err != nil {
					b.Fatal(err)
				}
				<-st.out.ready
			}
		})
	}
}
