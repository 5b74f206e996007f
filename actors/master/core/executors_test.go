package core

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
)

// execWorld drives a core with a real allocator (the DRF policy): what the
// core tells the allocator is applied to it, and what the allocator grants
// becomes offers. The allocator's own books then show what Mesos charges an
// executor: what it offers of an agent is the agent less its tasks and its
// executors.
type execWorld struct {
	t      *testing.T
	c      *Core
	pol    policy.Allocator
	now    time.Time
	offers []*messages.Offer
	fwID   string
}

func newExecWorld(t *testing.T, epoch uint64) *execWorld {
	pol, err := policy.New("drf", policy.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := &execWorld{t: t, pol: pol, now: traceT0}
	w.c = New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: epoch}, Liveness: LivenessPolicy{Interval: 5 * time.Second, MaxMisses: 3},
		OfferTimeout: time.Hour, FrameworkHeartbeat: 15 * time.Second})
	w.run(w.c.Start(w.now))
	return w
}

func (w *execWorld) run(r Ready) {
	w.t.Helper()
	for _, e := range r.Effects {
		switch e := e.(type) {
		case ToAllocator:
			if _, ok := e.Msg.(*messages.AllocatorCheckShortfalls); ok {
				continue
			}
			if _, err := policy.Apply(w.pol, e.Msg, w.now); err != nil {
				w.t.Fatalf("the allocator refused %T from the core (the books disagree): %v", e.Msg, err)
			}
		case Send:
			switch m := e.Msg.(type) {
			case *messages.Offers:
				w.offers = append(w.offers, m.Offers...)
			case *messages.FrameworkSubscribed:
				w.fwID = m.FrameworkId.Value
			case *messages.StatusUpdate:
				if m.Status.State == messages.TaskState_TASK_ERROR {
					w.t.Fatalf("task %s refused: %s", m.Status.TaskId.Value, m.Status.Message)
				}
			}
		}
	}
}

var execAgent = Peer{Endpoint: Endpoint{"h:1", "agent"}}
var execScheduler = Peer{Endpoint: Endpoint{"s:1", "scheduler"}}

// offered gives back every outstanding offer, lets the allocator run, and
// says what it offers now.
func (w *execWorld) offered() string {
	w.t.Helper()
	if len(w.offers) > 0 {
		zero := 0.0
		msg := &messages.Decline{FrameworkId: &messages.FrameworkID{Value: w.fwID}, Filters: &messages.Filters{RefuseSeconds: &zero}}
		for _, o := range w.offers {
			msg.OfferIds = append(msg.OfferIds, o.Id)
		}
		w.offers = nil
		w.run(w.c.Decline(execScheduler, msg, w.now))
	}
	// Revive clears the filters of declines and launches alike: all the
	// allocator holds back is what it counts as allocated.
	w.run(w.c.Revive(execScheduler, &messages.Revive{FrameworkId: &messages.FrameworkID{Value: w.fwID}}, w.now))
	w.now = w.now.Add(time.Second)
	if grants := w.pol.Allocate(w.now); len(grants) > 0 {
		w.run(w.c.Allocated(policy.EncodeGrants(grants), w.now))
	}
	var res []*messages.Resource
	for _, o := range w.offers {
		res = append(res, o.Resources...)
	}
	return messages.FormatResources(res)
}

func (w *execWorld) used() string {
	st := w.c.State(w.now)
	return messages.FormatResources(st.Agents[0].Used)
}

func (w *execWorld) subscribe(id string) {
	info := &messages.FrameworkInfo{Name: "f", Roles: []string{"eng"}}
	if id != "" {
		info.Id = &messages.FrameworkID{Value: id}
	}
	w.run(w.c.Subscribe(execScheduler, &messages.SubscribeFramework{Info: info}, w.now))
}

func (w *execWorld) status(task string, state messages.TaskState) {
	w.run(w.c.StatusUpdate(execAgent, &messages.StatusUpdate{FrameworkId: &messages.FrameworkID{Value: w.fwID},
		Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: task}, AgentId: &messages.AgentID{Value: "m-1-A1"}, State: state, Uuid: []byte(task + state.String())}}, w.now))
}

func execInfo(t *testing.T, fwID, res string) *messages.ExecutorInfo {
	rs, err := messages.ParseResources(res)
	if err != nil {
		t.Fatal(err)
	}
	return &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "e1"}, FrameworkId: &messages.FrameworkID{Value: fwID},
		Command: &messages.CommandInfo{Value: "./executor"}, Resources: rs}
}

func execTask(t *testing.T, id string, ex *messages.ExecutorInfo) *messages.TaskInfo {
	rs, _ := messages.ParseResources("cpus:1;mem:1024")
	return &messages.TaskInfo{Name: id, TaskId: &messages.TaskID{Value: id}, Resources: rs, Executor: ex}
}

// Mesos' accounting of an executor, as the allocator sees it: its
// resources are allocated with its first task, stay allocated after its
// last task ends, and are freed when the agent says it exited; the
// agent's used (/state) says the same at each step.
func TestExecutorResourcesHeldUntilExecutorExits(t *testing.T) {
	w := newExecWorld(t, 1)
	total, _ := messages.ParseResources("cpus:4;mem:4096")
	w.run(w.c.RegisterAgent(execAgent, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: "h", Resources: total}}, w.now))
	w.subscribe("")
	if got := w.offered(); got != "cpus:4;mem:4096" {
		t.Fatalf("offered %s before any launch", got)
	}
	ex := execInfo(t, w.fwID, "cpus:1;mem:1024")
	zero := 0.0
	w.run(w.c.Accept(execScheduler, &messages.Accept{FrameworkId: &messages.FrameworkID{Value: w.fwID}, OfferIds: []*messages.OfferID{w.offers[0].Id},
		Operations: []*messages.Operation{{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: []*messages.TaskInfo{execTask(t, "t1", ex)}}}}},
		Filters:    &messages.Filters{RefuseSeconds: &zero}}, w.now))
	w.offers = nil
	for _, step := range []struct {
		name          string
		do            func()
		used, offered string
	}{
		{"task and executor launched", func() {}, "cpus:2;mem:2048", "cpus:2;mem:2048"},
		{"task running", func() { w.status("t1", messages.TaskState_TASK_RUNNING) }, "cpus:2;mem:2048", "cpus:2;mem:2048"},
		{"its last task ended: the executor still holds its resources", func() { w.status("t1", messages.TaskState_TASK_FINISHED) }, "cpus:1;mem:1024", "cpus:3;mem:3072"},
		{"the executor exited", func() {
			w.run(w.c.ExecutorExited(execAgent, &messages.ExecutorExited{FrameworkId: ex.FrameworkId, ExecutorId: ex.ExecutorId, AgentId: &messages.AgentID{Value: "m-1-A1"}}, w.now))
		}, "", "cpus:4;mem:4096"},
	} {
		step.do()
		if got := w.used(); got != step.used {
			t.Errorf("%s: agent used %q, want %q", step.name, got, step.used)
		}
		if got := w.offered(); got != step.offered {
			t.Errorf("%s: allocator offers %q, want %q", step.name, got, step.offered)
		}
		if err := booksAgree(w.c); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
	}
}

// A new leader learns an executor from the agent's re-registration: it is
// charged to the agent, its framework and role, and the allocator is told
// it is in use, so it is not offered; the agent's next re-registration
// without it frees it.
func TestExecutorResourcesRebuiltAfterFailover(t *testing.T) {
	w := newExecWorld(t, 2)
	total, _ := messages.ParseResources("cpus:4;mem:4096")
	ex := execInfo(t, "m-1-F1", "cpus:1;mem:1024")
	task := &messages.Task{TaskId: &messages.TaskID{Value: "t1"}, FrameworkId: ex.FrameworkId, State: messages.TaskState_TASK_RUNNING,
		Resources: execTask(t, "t1", nil).Resources, Role: "eng", ExecutorId: ex.ExecutorId}
	reregister := func(executors ...*messages.RunningExecutor) {
		w.run(w.c.ReregisterAgent(execAgent, &messages.ReregisterAgent{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: "m-1-A1"}, Hostname: "h", Resources: total},
			Tasks: []*messages.Task{task}, Frameworks: []*messages.FrameworkInfo{{Id: ex.FrameworkId, Name: "f", Roles: []string{"eng"}}},
			RunningExecutors: executors}, w.now))
	}
	reregister(&messages.RunningExecutor{Info: ex, Role: "eng"})
	w.subscribe("m-1-F1")
	if got, want := w.used(), "cpus:2;mem:2048"; got != want {
		t.Errorf("after failover: agent used %q, want %q (task and executor)", got, want)
	}
	st := w.c.State(w.now)
	if got := messages.FormatResources(st.Frameworks[0].Used); got != "cpus:2;mem:2048" {
		t.Errorf("after failover: framework used %q, want task and executor", got)
	}
	if got := messages.FormatResources(st.RoleUsage[0].Used); got != "cpus:2;mem:2048" {
		t.Errorf("after failover: role used %q, want task and executor", got)
	}
	if got := w.offered(); got != "cpus:2;mem:2048" {
		t.Errorf("after failover: allocator offers %q, want the agent less the task and the executor", got)
	}
	if err := booksAgree(w.c); err != nil {
		t.Fatal(err)
	}
	// The executor ended while the agent restarted.
	w.offers = nil // rescinded by the re-registration
	reregister()
	if got, want := w.used(), "cpus:1;mem:1024"; got != want {
		t.Errorf("re-registered without the executor: agent used %q, want %q", got, want)
	}
	if got := w.offered(); got != "cpus:3;mem:3072" {
		t.Errorf("re-registered without the executor: allocator offers %q, want the agent less the task", got)
	}
	if err := booksAgree(w.c); err != nil {
		t.Fatal(err)
	}
}

// The books forget an agent's executors with the agent, and a framework's
// with the framework.
func TestExecutorsForgottenWithAgentOrFramework(t *testing.T) {
	w := newExecWorld(t, 1)
	total, _ := messages.ParseResources("cpus:4;mem:4096")
	w.run(w.c.RegisterAgent(execAgent, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: "h", Resources: total}}, w.now))
	w.subscribe("")
	w.offered()
	ex := execInfo(t, w.fwID, "cpus:1;mem:1024")
	w.run(w.c.Accept(execScheduler, &messages.Accept{FrameworkId: &messages.FrameworkID{Value: w.fwID}, OfferIds: []*messages.OfferID{w.offers[0].Id},
		Operations: []*messages.Operation{{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: []*messages.TaskInfo{execTask(t, "t1", ex)}}}}}}, w.now))
	w.offers = nil
	if len(w.c.books.executors) != 1 {
		t.Fatalf("%d executors charged, want 1", len(w.c.books.executors))
	}
	w.run(w.c.UnregisterAgent(execAgent, &messages.UnregisterAgent{AgentId: &messages.AgentID{Value: "m-1-A1"}}, w.now))
	if len(w.c.books.executors) != 0 || len(w.c.books.roles) != 0 {
		t.Fatalf("after the agent left: %d executors, %d roles still charged", len(w.c.books.executors), len(w.c.books.roles))
	}
	if err := booksAgree(w.c); err != nil {
		t.Fatal(err)
	}
}

// An agent's words on how an executor ended are forwarded to its
// scheduler bounded, as a task status's are, and still valid UTF-8.
func TestExecutorExitTextIsBounded(t *testing.T) {
	long := strings.Repeat("é", messages.MaxStatusMessage) // two bytes each
	got := exitText(long)
	if len(got) > messages.MaxStatusMessage+len(" …(truncated)") || !utf8.ValidString(got) || !strings.HasSuffix(got, "(truncated)") {
		t.Fatalf("forwarded %d bytes (valid UTF-8: %v); want at most %d and a truncation mark", len(got), utf8.ValidString(got), messages.MaxStatusMessage)
	}
	if short := "the executor exited with code 3"; exitText(short) != short {
		t.Fatalf("a short text was changed: %q", exitText(short))
	}
}
