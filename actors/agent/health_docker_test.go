package agent_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// A Docker task's checks run where Mesos' Docker executor runs them: its
// HTTP health check against the container's address on the bridge network
// (no port mapping), its COMMAND check inside the container (docker exec).
// When the served file goes, the check reports exit code 1 and the health
// check kills the task. (The engine answers from goroutines: each probe's
// result is waited for, clock still, before the clock moves.)
func TestDockerTaskChecksRunInItsContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d, err := containerizer.NewDocker()
	if err != nil {
		t.Fatalf("this test needs the Docker engine: %v", err)
	}
	t.Cleanup(d.Close)
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	addAgent(t, c, testkit.AgentSpec{Docker: d, WorkDir: t.TempDir()})
	one, zero, failures := 1.0, 0.0, uint32(2)
	task := &messages.TaskInfo{Name: "web", TaskId: &messages.TaskID{Value: "web"}, Resources: scheduler.Resources("cpus:0.5;mem:64"),
		Command:   &messages.CommandInfo{Value: "mkdir -p /tmp/www && echo ok > /tmp/www/health && exec httpd -f -p 8080 -h /tmp/www", Shell: true},
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test"}},
		HealthCheck: &messages.HealthCheck{Type: messages.HealthCheck_HTTP, Http: &messages.HealthCheck_HTTPCheckInfo{Port: 8080, Path: "/health"},
			DelaySeconds: &one, IntervalSeconds: &one, GracePeriodSeconds: &zero, ConsecutiveFailures: &failures},
		Check: &messages.CheckInfo{Type: messages.HealthCheck_COMMAND, Command: &messages.CommandInfo{Value: "test -f /tmp/www/health", Shell: true},
			DelaySeconds: &one, IntervalSeconds: &one}}
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "web", messages.TaskState_TASK_RUNNING))
	// The container is the test's to remove (an agent leaves its tasks
	// running when it stops, and framework IDs repeat from run to run).
	fw := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 }).Frameworks[0].Info.Id.Value
	label := containerizer.LabelTask + "=" + fw + ".web"
	t.Cleanup(func() {
		if err := d.Destroy(context.Background(), fw+".web", ""); err != nil {
			t.Errorf("remove the task's container: %v", err)
		}
	})

	// The first probes: the health check passes once httpd listens (a
	// failure before counts, with no grace period, but one is below the
	// limit of two).
	checkCode := func(code int32) func(any) bool {
		return func(ev any) bool {
			ch, ok := ev.(agent.Checked)
			return ok && ch.Status.CommandExitCode != nil && ch.Status.GetCommandExitCode() == code
		}
	}
	for i := 0; ; i++ {
		mark := c.Events.Mark()
		c.Advance(t, time.Second)
		h := c.Events.WaitForSince(t, mark, func(ev any) bool { _, ok := ev.(agent.HealthChecked); return ok }).(agent.HealthChecked)
		if h.Passed {
			break
		}
		if i == 1 {
			t.Fatal("httpd in the container did not answer the first two probes")
		}
	}
	c.Events.WaitFor(t, checkCode(0))

	// The served file goes: HTTP answers 404, the check's command exits 1.

	list, err := d.Client.ContainerList(t.Context(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil || len(list) != 1 {
		t.Fatalf("the task's container (label %s): %v %v", label, list, err)
	}
	ex, err := d.Client.ContainerExecCreate(t.Context(), list[0].ID, container.ExecOptions{Cmd: []string{"rm", "/tmp/www/health"}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := d.Client.ContainerExecAttach(t.Context(), ex.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, att.Reader) // ends when rm does
	att.Close()
	for i := 0; ; i++ { // a probe under way may have run before rm: the next sees it
		mark := c.Events.Mark()
		c.Advance(t, time.Second)
		ev := c.Events.WaitForSince(t, mark, func(ev any) bool { _, ok := ev.(agent.Checked); return ok }).(agent.Checked)
		if ev.Status.GetCommandExitCode() == 1 {
			break
		}
		if i == 2 {
			t.Fatalf("the check still passes after %d probes", i)
		}
	}
	// The health check fails too (404) from here on: at its second
	// failure in a row the task is killed.
	for i := 0; ; i++ {
		mark := c.Events.Mark()
		c.Advance(t, time.Second)
		h := c.Events.WaitForSince(t, mark, func(ev any) bool { _, ok := ev.(agent.HealthChecked); return ok }).(agent.HealthChecked)
		if h.Failures == failures {
			break
		}
		if i == 20 {
			t.Fatalf("the health check still passes after %d probes", i)
		}
	}
	c.Events.WaitFor(t, testkit.IsStatus("fw", "web", messages.TaskState_TASK_KILLING))
	c.Events.WaitFor(t, testkit.IsStatus("fw", "web", messages.TaskState_TASK_KILLED))
}
