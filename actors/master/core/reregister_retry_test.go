package core

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// retryCounts counts the re-admissions and the retries answered again.
type retryCounts struct{ reregs, retries int }

func (r *retryCounts) Count(c Counter, _ string, n int) {
	switch c {
	case Reregistrations:
		r.reregs += n
	case ReregistrationRetries:
		r.retries += n
	}
}
func (r *retryCounts) Observe(Histogram, time.Duration) {}

// A retry of a re-registration the core has taken (same agent, session and
// address) is ignored within AnswerInFlight of the answer (it crossed it),
// and answered again after it with the liveness refresh and AgentRegistered
// alone: no second adoption, nothing for the allocator, no event, and no
// state change to publish. After a failover at 40,000 agents every agent
// retries 2-4 times while the new leader works through the others.
func TestReregistrationRetryIsAnsweredWithoutReadmission(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	counts := &retryCounts{}
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 2}, Liveness: LivenessPolicy{Interval: 5 * time.Second, MaxMisses: 3}, Metrics: counts})
	c.Start(t0)
	fw := &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "m-1-F1"}, Name: "f1", Roles: []string{"eng"}}
	report := func() *messages.ReregisterAgent {
		return &messages.ReregisterAgent{
			Info: &messages.AgentInfo{Id: &messages.AgentID{Value: "m-1-A1"}, Hostname: "h1",
				Resources: []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "mem", Scalar: 4096}}},
			Session: "s1",
			Tasks: []*messages.Task{{TaskId: &messages.TaskID{Value: "t1"}, Name: "t1", FrameworkId: fw.Id, State: messages.TaskState_TASK_RUNNING, Role: "eng",
				Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}, {Name: "mem", Scalar: 1024}}}},
			Frameworks: []*messages.FrameworkInfo{fw},
		}
	}
	p := Peer{Endpoint: Endpoint{Address: "h1:1", ID: "agent"}}
	if r := c.ReregisterAgent(p, report(), t0); !r.Changed {
		t.Fatal("the first re-registration changed nothing a snapshot shows")
	}
	// Within AnswerInFlight of the answer, the retry crossed it: ignored,
	// as Mesos' master ignores one while the re-registration is in progress.
	if r := c.ReregisterAgent(p, report(), t0.Add(AnswerInFlight-time.Millisecond)); r.Changed || len(r.Effects) != 0 {
		t.Errorf("a retry within %v of the answer produced %+v (changed %v), want nothing", AnswerInFlight, r.Effects, r.Changed)
	}
	// Past it, the answer may have been lost: answered again.
	later := t0.Add(AnswerInFlight)
	r := c.ReregisterAgent(p, report(), later)
	if r.Changed {
		t.Error("a retry of a re-registration already taken asks for a state publication")
	}
	var watch, answer int
	for _, e := range r.Effects {
		switch e := e.(type) {
		case WatchAgent:
			watch++
			if !e.Seen.Equal(later) {
				t.Errorf("the retry refreshed liveness to %v, want %v", e.Seen, later)
			}
		case Send:
			if reg, ok := e.Msg.(*messages.AgentRegistered); ok && reg.Reregistered && e.To == p.Endpoint {
				answer++
				continue
			}
			t.Errorf("the retry sent %T to %v", e.Msg, e.To)
		default:
			t.Errorf("the retry produced %T %+v", e, e)
		}
	}
	if watch != 1 || answer != 1 {
		t.Errorf("the retry produced %d liveness refreshes and %d answers, want 1 and 1", watch, answer)
	}
	if counts.reregs != 1 || counts.retries != 2 {
		t.Errorf("counted %d re-admissions and %d retries, want 1 and 2", counts.reregs, counts.retries)
	}
	var running uint32
	for _, f := range c.books.Frameworks(t0) {
		running += f.Tasks["TASK_RUNNING"]
	}
	if running != 1 {
		t.Errorf("the books hold %d RUNNING tasks after the retry, want 1", running)
	}
}
