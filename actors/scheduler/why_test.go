package scheduler_test

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

// Why pending through the SDK, on a real master (issue 16): a framework
// that states its demand as units with ReviveForUnits hears of the unit
// no agent can hold as a *messages.DemandUnfit event, once; again when the
// cluster shrinks below what it was told; and the reason it gives with
// DeclineWithReason is counted in the state `agora frameworks describe`
// reads.
func TestDemandUnfitAndDeclineReasonsThroughTheSDK(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, Containerizer: testkit.SimContainerizer{Clock: clock}})
	res := func(text string) []*messages.Resource {
		rs, err := messages.ParseResources(text)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	c.AddAgent(testkit.AgentSpec{Hostname: "small", Resources: res("cpus:4;mem:8192")})
	wide := c.AddAgent(testkit.AgentSpec{Hostname: "wide", Resources: res("cpus:6;mem:4096")})
	c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Agents) == 2 })

	declined := false
	c.StartScheduler(&messages.FrameworkInfo{Name: "why", Roles: []string{"r"}}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.FrameworkSubscribed:
			// Two small tasks and one of 8 cpus: no agent has 8.
			d.ReviveForUnits([][]*messages.Resource{res("cpus:1;mem:128"), res("cpus:1;mem:128"), res("cpus:8;mem:1024")})
		case *messages.Offers:
			if !declined {
				declined = true
				d.DeclineWithReason(scheduler.OfferIDs(ev.Offers), 0, "waiting for 8 cpus")
			}
		}
	}))
	isUnfit := func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, unfit := se.Event.(*messages.DemandUnfit)
		return ok && se.Framework == "why" && unfit
	}
	mark := c.Events.Mark()
	u := c.Events.WaitFor(t, isUnfit).(testkit.SchedulerEvent).Event.(*messages.DemandUnfit)
	if len(u.Unfit) != 1 || messages.FormatResources(u.Unfit[0].Resources) != "cpus:8;mem:1024" ||
		messages.FormatResources(u.Largest) != "cpus:6;mem:8192" || u.Agents != 2 {
		t.Fatalf("first DemandUnfit: %v", u)
	}

	st := c.StateWhere(t, func(s *messages.MasterState) bool {
		for _, f := range s.Frameworks {
			for _, dc := range f.GetPending().GetDeclines() {
				if dc.Reason == "waiting for 8 cpus" && dc.Offers > 0 && f.GetPending().GetDemandUnfit() != nil {
					return true
				}
			}
		}
		return false
	})
	if n := len(st.Frameworks[0].Pending.Declines); n != 1 {
		t.Fatalf("declines by reason: %v, want only the one reason given", st.Frameworks[0].Pending.Declines)
	}

	// The agent with the most cpus goes: the framework is told again,
	// with what the cluster has left.
	c.StopAgent(wide)
	ev := c.AdvanceUntil(t, c.Events.Mark(), 5*time.Minute, isUnfit)
	u = ev.(testkit.SchedulerEvent).Event.(*messages.DemandUnfit)
	if messages.FormatResources(u.Largest) != "cpus:4;mem:8192" || u.Agents != 1 {
		t.Fatalf("DemandUnfit after the shrink: %v", u)
	}
	if n := c.Events.Count(mark, isUnfit); n != 2 {
		t.Fatalf("told %d times, want 2: once for the demand, once for the shrink", n)
	}
}
