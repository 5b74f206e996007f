package main

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// agora agents remove on real processes: the task of agora run (a
// framework that is not partition-aware) on the removed agent ends
// TASK_LOST with the operator's reason, the agent leaves the state and its
// resources the allocator, and the agent process, still running, is
// refused when it tries to come back under its ID; started afresh (a new
// work directory) on the same host it registers as a new agent.
func TestRemoveAgentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, m := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort)
	agent := func() *proc {
		p, _ := startNode(t, "host-a", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
			"--work-dir", workDir(t), "--tls-dir", agentDir(t, "host-a"), "--resources", "cpus:2;mem:1024;disk:2048")
		return p
	}
	agora := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, append(args, "--master-http", m.HTTP)...).CombinedOutput()
		if err != nil {
			t.Fatalf("agora %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	old := agent()
	st := waitState(t, m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	id := st.Agents[0].Info.Id.Value
	run := startProc(t, "run", "run", "--master", m.Remoting, "--timeout", "60s", "--mem", "16", "--", "sleep", "600")
	run.out.waitFor(t, "TASK_RUNNING")

	if got := agora("agents", "remove", "host-a"); !strings.Contains(got, "agent "+id+" removed: 1 tasks ended") {
		t.Fatalf("agora agents remove: %s", got)
	}
	run.out.waitFor(t, "TASK_LOST: agent removed by an operator")
	<-run.done
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return len(st.Agents) == 0 })
	// The old agent, still running, learns from its next heartbeat that it
	// must register again, and is refused.
	old.out.waitFor(t, "was removed by an operator and may not register again")
	out, err := exec.Command(agoraBin, "agents", "remove", id, "--master-http", m.HTTP).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no agent") {
		t.Fatalf("removing it again: %v\n%s", err, out)
	}

	old.signal(syscall.SIGTERM)
	<-old.done
	agent()
	st = waitState(t, m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	if got := st.Agents[0].Info.Id.Value; got == id {
		t.Fatalf("the fresh agent came back as %s, the removed ID", got)
	}
	// Its resources are offered again: a task runs there.
	out, err = exec.Command(agoraBin, "run", "--master", m.Remoting, "--timeout", "60s", "--mem", "16", "--", "true").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "on host-a") {
		t.Fatalf("a task on the fresh agent: %v\n%s", err, out)
	}
}
