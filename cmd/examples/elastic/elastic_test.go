package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
)

// The queue runs to the end, growing onto an agent that joins midway.
func TestElasticGrowsWithTheCluster(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:1024"})
	sim := testkit.SimContainerizer{Clock: c.Clock, Duration: func(containerizer.LaunchSpec) time.Duration { return 10 * time.Second }}
	c.AddAgent(testkit.AgentSpec{Containerizer: sim})
	e := NewElastic(30, "true", []*messages.Resource{{Name: "cpus", Scalar: 0.25}, {Name: "mem", Scalar: 32}})
	c.StartScheduler(&messages.FrameworkInfo{Name: "elastic", Roles: []string{"batch"}}, e)
	// One agent fits 4 tasks at a time; a second doubles that.
	c.AdvanceUntil(t, 0, 30*time.Second, testkit.IsStatus("elastic", "task-0003", messages.TaskState_TASK_RUNNING))
	c.AddAgent(testkit.AgentSpec{Containerizer: sim})
	c.AdvanceUntil(t, 0, 300*time.Second, func(any) bool {
		select {
		case <-e.Done:
			return true
		default:
			return false
		}
	})
	if e.failed != 0 || e.ended != 30 {
		t.Fatalf("%s", e.Summary())
	}
	if len(e.agents) != 2 {
		t.Fatalf("tasks ran on %d agents, want both", len(e.agents))
	}
}

// A task its agent kills for failing its health check is run again under
// a new ID; the queue still counts it as one task to finish.
func TestElasticRestartsUnhealthyTasks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer srv.Close()
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:1024"})
	c.AddAgent(testkit.AgentSpec{Containerizer: testkit.SimContainerizer{Clock: c.Clock}})
	e := NewElastic(1, "serve", []*messages.Resource{{Name: "cpus", Scalar: 0.25}, {Name: "mem", Scalar: 32}})
	check, err := scheduler.HealthCheck(fmt.Sprintf("http://:%d/", srv.Listener.Addr().(*net.TCPAddr).Port), time.Second, time.Second, 0, time.Nanosecond, 1)
	if err != nil {
		t.Fatal(err)
	}
	e.Queue[0].HealthCheck = check
	c.StartScheduler(&messages.FrameworkInfo{Name: "elastic", Roles: []string{"batch"}}, e)
	c.AdvanceUntil(t, 0, 30*time.Second, testkit.IsStatus("elastic", "task-0000", messages.TaskState_TASK_RUNNING))
	mark := c.Events.Mark()
	c.Advance(t, time.Second) // the first probe fails: its only allowed failure
	c.Events.WaitForSince(t, mark, func(ev any) bool { h, ok := ev.(agent.HealthChecked); return ok && h.Failures == 1 })
	c.AdvanceUntil(t, 0, 30*time.Second, testkit.IsStatus("elastic", "task-0000-restarted-1", messages.TaskState_TASK_RUNNING))
	if e.ended != 0 || e.moved != 1 {
		t.Fatalf("ended %d, run again %d; want the task run again, not counted as ended", e.ended, e.moved)
	}
}
