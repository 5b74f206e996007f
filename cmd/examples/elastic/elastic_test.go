package main

import (
	"testing"
	"time"

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
