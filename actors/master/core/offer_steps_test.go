package core

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// offeringCore is a core with 600 agents and two frameworks, and the
// allocator's grants for them: f1 on two agents of three, f2 on the third,
// interleaved as the allocator grants them, plus a grant for a framework
// that is gone.
func offeringCore(t *testing.T) (*Core, *messages.Allocated) {
	t.Helper()
	now := traceT0
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}, OfferTimeout: time.Minute})
	c.Start(now)
	res := policy.MustParse("cpus:4;mem:1024")
	for i := 1; i <= 600; i++ {
		c.RegisterAgent(Peer{Endpoint: Endpoint{Address: fmt.Sprintf("a%d:1", i), ID: fmt.Sprintf("a%d", i)}}, &messages.RegisterAgent{Info: &messages.AgentInfo{
			Hostname: fmt.Sprintf("a%d", i), Resources: res.ToMessages(false)}}, now)
	}
	for _, f := range []string{"f1", "f2"} {
		c.Subscribe(Peer{Endpoint: Endpoint{Address: f + ":1", ID: f}}, &messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: f, Roles: []string{"eng"}}}, now)
	}
	var grants []policy.Grant
	for i := 1; i <= 600; i++ {
		agent := fmt.Sprintf("m-1-A%d", i)
		fw := "m-1-F1"
		if i%3 == 0 {
			fw = "m-1-F2"
		}
		grants = append(grants, policy.Grant{FrameworkID: fw, AgentID: agent, Role: "eng", Resources: res, Incarnation: c.books.agents[agent].incarnation})
		if i == 300 {
			grants = append(grants, policy.Grant{FrameworkID: "m-1-F9", AgentID: agent, Role: "eng", Resources: res})
		}
	}
	c.ready() // registrations and subscriptions: not what this test is about
	return c, policy.EncodeGrants(grants)
}

// offersIn lists the Offers messages of a Ready as "framework:count".
func offersIn(r Ready) (out []string) {
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if o, ok := s.Msg.(*messages.Offers); ok {
				out = append(out, fmt.Sprintf("%s:%d", s.To.ID, len(o.Offers)))
			}
		}
	}
	return out
}

// OfferGrants stops at the first full Offers message (a framework's first
// of an offering holds 32 offers, the next 256), so that the shell sends
// it while the rest are built; step by step, the effects are Allocated's,
// in the same order.
func TestOfferGrantsStepsAreAllocated(t *testing.T) {
	whole, msg := offeringCore(t)
	want := append([]Effect(nil), whole.Allocated(msg, traceT0).Effects...)

	stepped, msg := offeringCore(t)
	r, more := stepped.OfferGrants(msg, traceT0)
	if got := offersIn(r); !reflect.DeepEqual(got, []string{"f1:32"}) || !more {
		t.Fatalf("first step: offers %v, more %v; want [f1:32] and more", got, more)
	}
	got := append([]Effect(nil), r.Effects...)
	steps := 1
	for more {
		r, more = stepped.OfferMore()
		got = append(got, r.Effects...)
		steps++
	}
	if steps != 4 {
		t.Errorf("%d steps; want 4 (f1's first 32, f2's first 32, f1's next 256, then the rest)", steps)
	}
	if len(got) != len(want) {
		t.Fatalf("stepped: %d effects; Allocated: %d", len(got), len(want))
	}
	for i := range want {
		ws, wok := want[i].(Send)
		gs, gok := got[i].(Send)
		if wok != gok || (wok && (ws.To != gs.To || !proto.Equal(ws.Msg, gs.Msg))) || (!wok && !reflect.DeepEqual(want[i], got[i])) {
			t.Fatalf("effect %d: stepped %v; Allocated %v", i, got[i], want[i])
		}
	}
	if n := len(stepped.books.offers); n != 600 {
		t.Errorf("%d offers in the books; want 600", n)
	}
	// Nothing left half done: the next offering starts clean.
	if r, more := stepped.OfferMore(); more || len(r.Effects) != 0 {
		t.Errorf("OfferMore after the last step: %d effects, more %v", len(r.Effects), more)
	}
}

// A shell that breaks off an offering loses no grant: the next
// OfferGrants finishes it first.
func TestOfferGrantsFinishesAnOfferingLeftUnfinished(t *testing.T) {
	c, msg := offeringCore(t)
	if _, more := c.OfferGrants(msg, traceT0); !more {
		t.Fatal("first step ended the offering")
	}
	r, more := c.OfferGrants(policy.EncodeGrants(nil), traceT0)
	r.Effects = append([]Effect(nil), r.Effects...) // the next step reuses the core's slice
	for more {
		var next Ready
		next, more = c.OfferMore()
		r.Effects = append(r.Effects, next.Effects...)
	}
	if got := offersIn(r); !reflect.DeepEqual(got, []string{"f2:32", "f1:256", "f1:112", "f2:168"}) {
		t.Errorf("offers after the broken-off step: %v; want [f2:32 f1:256 f1:112 f2:168]", got)
	}
	if n := len(c.books.offers); n != 600 {
		t.Errorf("%d offers in the books; want 600", n)
	}
}
