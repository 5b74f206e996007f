package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/agora-sched/agora/runtime/containerizer"
	"google.golang.org/protobuf/proto"
)

// Issue 17's acceptance: "An executor's resources appear in used, are
// limited by its cgroup, and are freed when it exits." A real master and
// agent (cgroup isolation); a Mesos framework launches a task with a custom
// executor (a real process) that asks for cpus:0.5;mem:64 of its own. While
// its task (cpus:0.5;mem:32) runs, the agent's used is both, and the
// executor's cgroup is limited to both (96 MiB); once the task finished,
// the executor, still running, is charged alone and its cgroup shrinks to
// 64 MiB; once it exits, nothing is used and its cgroup is gone.
func TestExecutorResourcesUsedLimitedAndFreed(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and cgroups; make test runs it")
	}
	cg, err := containerizer.DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Skipf("the agent cannot isolate here, so there is no executor cgroup to read (run as root on a machine with cgroups): %v", err)
	}
	dir := workDir(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, m := startNode(t, "master", "node", "--role=master", "--insecure", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms")
	agent, _ := startNode(t, "agent", "node", "--role=agent", "--insecure", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
		"--work-dir", filepath.Join(dir, "a"), "--resources", "cpus:2;mem:512", "--isolation", "cgroups")
	waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	fw := subscribeMesosHTTP(t, m.HTTP, &mesos.FrameworkInfo{User: proto.String("root"), Name: proto.String("accounted")})
	offer := fw.next(sched.Event_OFFERS, 0).GetOffers().GetOffers()[0]
	gate, linger := filepath.Join(dir, "gate"), filepath.Join(dir, "linger")
	executor := &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("accounted")}, Type: mesos.ExecutorInfo_CUSTOM.Enum(),
		Command: &mesos.CommandInfo{Value: proto.String(self), Shell: proto.Bool(false), Arguments: []string{self},
			Environment: &mesos.Environment{Variables: []*mesos.Environment_Variable{
				{Name: proto.String(mesosExecutorEnv), Value: proto.String(gate)}, {Name: proto.String(mesosExecutorLingerEnv), Value: proto.String(linger)}}}},
		Resources: []*mesos.Resource{mesosScalar("cpus", 0.5), mesosScalar("mem", 64)}}
	task := &mesos.TaskInfo{Name: proto.String("work"), TaskId: &mesos.TaskID{Value: proto.String("work")}, AgentId: offer.AgentId,
		Executor: executor, Resources: []*mesos.Resource{mesosScalar("cpus", 0.5), mesosScalar("mem", 32)}}
	fw.launch(offer, task)
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_RUNNING)

	used := func(want string) {
		t.Helper()
		waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool {
			return len(st.Agents) == 1 && messages.FormatResources(st.Agents[0].Used) == want
		})
	}
	containerID := fw.fid.GetValue() + ".executor.accounted" // the agent's name for the executor's container
	limit := func() string {
		t.Helper()
		b, err := os.ReadFile(cg.LimitFile(containerID))
		if err != nil {
			t.Fatalf("the executor's cgroup: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	used("cpus:1;mem:96")
	if got := limit(); got != "100663296" {
		t.Fatalf("executor cgroup memory limit %s bytes while its task runs, want 96 MiB (executor 64 + task 32)", got)
	}
	t.Logf("running: used cpus:1;mem:96, %s = %s", cg.LimitFile(containerID), limit())

	// The task finishes; the executor is told to shut down and lingers.
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_FINISHED)
	used("cpus:0.5;mem:64")
	agent.out.waitFor(t, "mem_mb=64")
	if got := limit(); got != "67108864" {
		t.Fatalf("executor cgroup memory limit %s bytes once its task ended, want 64 MiB (the executor's own)", got)
	}
	t.Logf("task finished, executor still running: used cpus:0.5;mem:64, limit %s", limit())

	// The executor exits: its resources are freed, its cgroup removed.
	if err := os.WriteFile(linger, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	used("")
	agent.out.waitFor(t, "executor ended")
	if cg.Exists(containerID) {
		t.Fatalf("the executor's cgroup %s outlived it", containerID)
	}
}
