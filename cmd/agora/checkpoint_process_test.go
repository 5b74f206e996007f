package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
	if n := strings.Count(out, `task_id=task-0000 state=TASK_LOST message="agent node1 restarted and the framework does not checkpoint`); n != 1 {
		t.Fatalf("the framework was told TASK_LOST %d times for its task, want once:\n%s", n, out)
	}
	if strings.Contains(agent.out.String(), "executor re-registered") {
		t.Fatalf("the executor of a non-checkpointing framework re-registered:\n%s", agent.out.String())
	}
	if left, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output(); len(left) > 0 {
		t.Fatalf("executor processes left: %s", left)
	}
}
