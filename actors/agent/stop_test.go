package agent_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"google.golang.org/protobuf/proto"
)

// stuckContainerizer never finishes anything on its own: a task named
// "hang" never finishes launching, any other runs for ever. Each returns
// only when the agent's context for it ends.
type stuckContainerizer struct{ entered chan string }

func (s stuckContainerizer) Launch(ctx context.Context, spec containerizer.LaunchSpec) (containerizer.Container, error) {
	s.entered <- spec.ID
	if strings.HasSuffix(spec.ID, ".hang") {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return stuckContainer{entered: s.entered}, nil
}

// stuckContainer says "wait" on entered when the agent starts waiting for
// it.
type stuckContainer struct{ entered chan string }

func (c stuckContainer) Wait(ctx context.Context) (containerizer.Exit, error) {
	if c.entered != nil {
		c.entered <- "wait"
	}
	<-ctx.Done()
	return containerizer.Exit{}, ctx.Err()
}

func (stuckContainer) Kill(time.Duration) {}

// goroutinesIn counts the goroutines whose stack has a frame containing
// any of frames.
func goroutinesIn(frames ...string) int {
	buf := make([]byte, 1<<22)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		for _, f := range frames {
			if strings.Contains(g, f) {
				n++
				break
			}
		}
	}
	return n
}

// Nothing the agent starts outlives it: a launch still under way and the
// wait for a running task both end when the agent stops, before it is
// stopped (the task itself goes on: tasks outlive their agent).
func TestStoppedAgentLeavesNoGoroutines(t *testing.T) {
	clock := testkit.NewFakeClock()
	ctr := stuckContainerizer{entered: make(chan string, 4)}
	sys, pid, sent := registeredAgentWith(t, clock, agent.Config{Containerizer: ctr}, nil)
	sys.Root.Send(pid, runTask("run", nil))
	sys.Root.Send(pid, runTask("hang", nil))
	next(t, sent, "the running task's RUNNING", func(m proto.Message) bool {
		u, ok := m.(*messages.StatusUpdate)
		return ok && u.Status.State == messages.TaskState_TASK_RUNNING
	})
	// Both launches entered, and the wait for the running one (it starts
	// on its own goroutine after the launch returned, maybe after RUNNING
	// went out).
	for range 3 {
		select {
		case <-ctr.entered:
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("the agent did not launch both tasks and wait for the running one")
		}
	}
	frames := []string{"agent_test.stuckContainer.Wait", "agent_test.stuckContainerizer.Launch"}
	if n := goroutinesIn(frames...); n != 2 {
		t.Fatalf("%d goroutines launch or wait for the tasks, want 2 (one each)", n)
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if n := goroutinesIn(frames...); n != 0 {
		t.Fatalf("%d goroutines of the stopped agent still launch or wait", n)
	}
}
