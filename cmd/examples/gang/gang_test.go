package main

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
)

func running(ev any) bool {
	se, ok := ev.(testkit.SchedulerEvent)
	if !ok {
		return false
	}
	u, ok := se.Event.(*messages.StatusUpdate)
	return ok && u.Status.State == messages.TaskState_TASK_RUNNING
}

// A gang of 6 needs more than one agent (each fits 4): nothing starts
// until the offers of two agents are held, then all 6 start together.
func TestGangStartsAllOrNothing(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:1024"})
	sim := testkit.SimContainerizer{Clock: c.Clock, Duration: func(containerizer.LaunchSpec) time.Duration { return 5 * time.Second }}
	c.AddAgent(testkit.AgentSpec{Containerizer: sim})
	g := NewGang(6, []*messages.Resource{{Name: "cpus", Scalar: 0.25}, {Name: "mem", Scalar: 32}}, "true", 20*time.Second)
	c.StartScheduler(&messages.FrameworkInfo{Name: "gang", Roles: []string{"hpc"}}, g)
	// With one agent the gang cannot start; past its timeout it gives the
	// offer back and gathers again.
	c.AdvanceUntil(t, 0, 100*time.Second, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, timedOut := se.Event.(gangTimeout)
		return ok && timedOut
	})
	if n := c.Events.Count(0, running); n != 0 {
		t.Fatalf("%d tasks started before the gang was complete", n)
	}
	c.AddAgent(testkit.AgentSpec{Containerizer: sim})
	started := map[string]bool{} // matching may see an event twice
	c.AdvanceUntil(t, 0, 60*time.Second, func(ev any) bool {
		if running(ev) {
			started[ev.(testkit.SchedulerEvent).Event.(*messages.StatusUpdate).Status.TaskId.GetValue()] = true
		}
		return len(started) == 6
	})
	c.AdvanceUntil(t, 0, 60*time.Second, func(any) bool {
		select {
		case <-g.Finished:
			return true
		default:
			return false
		}
	})
}
