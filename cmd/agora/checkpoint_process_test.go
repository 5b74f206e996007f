package main

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// FrameworkInfo.checkpoint false (issue 17 item 5), as Mesos: a
// framework's custom executor does not outlive its agent. SIGKILL the
// agent while the executor runs a task; the restarted agent ends the
// executor at once rather than ask it to re-register (nor wait the
// registration timeout, an hour here), re-registers without the task, and
// the master tells the framework TASK_LOST with REASON_AGENT_DISCONNECTED
// (Mesos' master.cpp, removeFramework(Slave*, Framework*)), once. No
// executor process is left.
func TestNonCheckpointingExecutorEndsWithAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	masterAddr, _ := startMaster(t, dir)
	agentArgs := []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:2;mem:512;disk:64", "--registration-backoff", "100ms",
		"--executor-registration-timeout", "1h"}
	agent, _ := startNode(t, "agent", agentArgs...)
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "1", "--resources", "cpus:0.5;mem:64",
		"--command", "sleep 600", "--executor", executorBin, "--checkpoint=false")
	fw.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	before, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output()
	if len(strings.Fields(string(before))) != 1 {
		t.Fatalf("want one executor process, have %q", before)
	}
	agent.signal(syscall.SIGKILL)
	<-agent.done

	agent, _ = startNode(t, "agent-again", agentArgs...)
	agent.out.waitFor(t, "stopping an executor: its framework does not checkpoint")
	select {
	case <-fw.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the framework's task did not end")
	}
	out := fw.out.String()
	if n := strings.Count(out, `task_id=task-0000 state=TASK_LOST message="agent node1 re-registered without the task: the framework does not checkpoint`); n != 1 {
		t.Fatalf("the framework was told TASK_LOST %d times for its task, want once:\n%s", n, out)
	}
	if strings.Contains(agent.out.String(), "executor re-registered") {
		t.Fatalf("the executor of a non-checkpointing framework re-registered:\n%s", agent.out.String())
	}
	if left, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output(); len(left) > 0 {
		t.Fatalf("executor processes left: %s", left)
	}
}

// A Mesos framework that leaves checkpoint unset does not checkpoint, as
// on Mesos (the Mesos API makes it an explicit false): SIGKILL the agent
// while its command task runs; the restarted agent ends the task's
// process before it re-registers, and the framework reads TASK_LOST with
// Mesos' REASON_AGENT_DISCONNECTED from the master, once.
func TestMesosFrameworkWithoutCheckpointLosesItsTaskOnAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	_, m := startNode(t, "master", "node", "--role=master", "--insecure", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms")
	agentArgs := []string{"node", "--role=agent", "--insecure", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
		"--work-dir", filepath.Join(dir, "a"), "--resources", "cpus:2;mem:512", "--registration-backoff", "100ms"}
	agent, _ := startNode(t, "agent", agentArgs...)
	waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	fw := subscribeMesosHTTP(t, m.HTTP, &mesos.FrameworkInfo{User: proto.String("root"), Name: proto.String("no-checkpoint"),
		FailoverTimeout: proto.Float64(3600)})
	offer := fw.next(sched.Event_OFFERS, 0).GetOffers().GetOffers()[0]
	const command = "sleep 60417" // found by its arguments
	fw.launch(offer, &mesos.TaskInfo{Name: proto.String("t"), TaskId: &mesos.TaskID{Value: proto.String("t")}, AgentId: offer.AgentId,
		Command: &mesos.CommandInfo{Value: proto.String(command)}, Resources: []*mesos.Resource{mesosScalar("cpus", 0.1), mesosScalar("mem", 32)}})
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_RUNNING)
	out, _ := exec.Command("pgrep", "-f", command).Output()
	if len(out) == 0 {
		t.Fatal("the task's process is not running")
	}
	t.Cleanup(func() { // what the test left, by the IDs it saw
		for _, p := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	agent.signal(syscall.SIGKILL)
	<-agent.done
	if out, _ := exec.Command("pgrep", "-f", command).Output(); len(out) == 0 {
		t.Fatal("the task's process ended with its agent: the test shows nothing")
	}
	agent, _ = startNode(t, "agent-again", agentArgs...)
	st := fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_LOST).GetUpdate().GetStatus()
	if st.GetReason() != mesos.TaskStatus_REASON_AGENT_DISCONNECTED || st.GetSource() != mesos.TaskStatus_SOURCE_MASTER {
		t.Fatalf("lost with %s from %s (%q), want REASON_AGENT_DISCONNECTED from the master", st.GetReason(), st.GetSource(), st.GetMessage())
	}
	if out, _ := exec.Command("pgrep", "-f", command).Output(); len(out) > 0 {
		t.Fatalf("the task's processes still run after the framework was told it was lost: %s", out)
	}
	if n := strings.Count(strings.Join(fw.seen, "\n"), "TASK_LOST"); n != 1 {
		t.Fatalf("the framework read TASK_LOST %d times, want once: %q", n, fw.seen)
	}
}
