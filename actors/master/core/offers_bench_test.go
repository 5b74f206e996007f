package core

import (
	"fmt"
	"testing"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
)

// BenchmarkOfferAndDecline: the core's part of offer churn at 10,000
// agents and 50 frameworks (the TCP harness after its tasks launched,
// every framework declining what it is offered): each op turns the
// allocator's grants for 1,000 agents, spread over the frameworks, into
// offers, and takes each framework's Decline of all of its offers. Reported
// per offer.
func BenchmarkOfferAndDecline(b *testing.B) {
	const agents, frameworks, perOp = 10_000, 50, 1000
	now := traceT0
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}, OfferTimeout: time.Minute})
	c.Start(now)
	res := policy.MustParse("cpus:32;mem:65536")
	for i := 1; i <= agents; i++ {
		c.RegisterAgent(Peer{Endpoint: Endpoint{Address: fmt.Sprintf("a%d:1", i), ID: fmt.Sprintf("a%d", i)}}, &messages.RegisterAgent{Info: &messages.AgentInfo{
			Hostname: fmt.Sprintf("a%d", i), Resources: res.ToMessages(false)}}, now)
	}
	peers := make([]Peer, frameworks)
	for j := range frameworks {
		name := fmt.Sprintf("f%d", j+1)
		peers[j] = Peer{Endpoint: Endpoint{Address: name + ":1", ID: name}}
		c.Subscribe(peers[j], &messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: name, Roles: []string{name}}}, now)
	}
	c.ready()
	b.ReportAllocs()
	b.ResetTimer()
	for op := range b.N {
		grants := make([]policy.Grant, 0, perOp)
		for k := range perOp {
			i := (op*perOp+k)%agents + 1
			agent := fmt.Sprintf("m-1-A%d", i)
			j := (op + k) % frameworks
			grants = append(grants, policy.Grant{FrameworkID: fmt.Sprintf("m-1-F%d", j+1), AgentID: agent, Role: fmt.Sprintf("f%d", j+1),
				Resources: res, Incarnation: c.books.agents[agent].incarnation})
		}
		r := c.Allocated(policy.EncodeGrants(grants), now)
		declines := map[string]*messages.Decline{}
		for _, e := range r.Effects {
			if s, ok := e.(Send); ok {
				if m, ok := s.Msg.(*messages.Offers); ok {
					for _, o := range m.Offers {
						d := declines[s.To.ID]
						if d == nil {
							d = &messages.Decline{FrameworkId: o.FrameworkId}
							declines[s.To.ID] = d
						}
						d.OfferIds = append(d.OfferIds, o.Id)
					}
				}
			}
		}
		offered := 0
		for j, p := range peers {
			if d := declines[p.Endpoint.ID]; d != nil {
				offered += len(d.OfferIds)
				c.Decline(p, d, now)
			} else if j < perOp {
				b.Fatalf("op %d: no offers for %s", op, p.Endpoint.ID)
			}
		}
		if offered != perOp || len(c.books.offers) != 0 {
			b.Fatalf("op %d: %d offers made, %d left after the declines; want %d and 0", op, offered, len(c.books.offers), perOp)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp), "ns/offer")
}
