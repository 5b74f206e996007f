package core

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// The master batches what it sends an agent (RunTasks,
// StatusUpdateAcknowledgements) only for an agent that said it takes
// batches, and tells every agent it takes StatusUpdates: a cluster can be
// upgraded a node at a time, an older agent getting its messages one by one.
func TestAgentsGetBatchesOnlyIfTheySaidSo(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 2}, Liveness: LivenessPolicy{Interval: 5 * time.Second, MaxMisses: 3}})
	c.Start(t0)
	for _, agent := range []struct {
		id      string
		batches bool
	}{{"m-1-A1", true}, {"m-1-A2", false}} {
		p := Peer{Endpoint: Endpoint{Address: agent.id + ":1", ID: "agent"}}
		r := c.ReregisterAgent(p, &messages.ReregisterAgent{
			Info: &messages.AgentInfo{Id: &messages.AgentID{Value: agent.id}, Hostname: agent.id, TakesBatches: agent.batches,
				Resources: []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "mem", Scalar: 4096}}},
			Session: "s-" + agent.id,
		}, t0)
		answered := false
		for _, e := range r.Effects {
			if s, ok := e.(Send); ok {
				if reg, ok := s.Msg.(*messages.AgentRegistered); ok {
					answered = true
					if !reg.TakesBatches {
						t.Errorf("%s: AgentRegistered does not say the master takes StatusUpdates", agent.id)
					}
				}
			}
		}
		if !answered {
			t.Fatalf("%s: not answered: %+v", agent.id, r.Effects)
		}
		// An update for a framework this master does not know is
		// acknowledged for it: the acknowledgement is marked for batching
		// as the agent said.
		r = c.StatusUpdate(p, &messages.StatusUpdate{FrameworkId: &messages.FrameworkID{Value: "gone"},
			Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: "t1"}, AgentId: &messages.AgentID{Value: agent.id},
				State: messages.TaskState_TASK_RUNNING, Uuid: []byte("u1")}}, t0)
		acks := 0
		for _, e := range r.Effects {
			if s, ok := e.(Send); ok {
				if _, ok := s.Msg.(*messages.StatusUpdateAcknowledgement); ok {
					acks++
					if s.To != p.Endpoint || s.Batch != agent.batches {
						t.Errorf("%s: acknowledgement to %v marked Batch=%v; want to %v, Batch=%v", agent.id, s.To, s.Batch, p.Endpoint, agent.batches)
					}
				}
			}
		}
		if acks != 1 {
			t.Errorf("%s: %d acknowledgements, want 1: %+v", agent.id, acks, r.Effects)
		}
	}
}
