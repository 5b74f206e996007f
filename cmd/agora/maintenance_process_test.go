package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// agora maintenance on real processes: a window of host-a scheduled a few
// seconds ahead tells agora run at once (its task is killed at the
// window's start), drains host-a at the start (offered to nobody, DRAINED)
// and reactivates it at the end. (That a new leader keeps the schedule is
// TestMaintenanceRoundTripThroughConsul and the core's maintenance trace.)
func TestMaintenanceWindowProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, m := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", workDir(t))
	startNode(t, "host-a", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
		"--work-dir", workDir(t), "--tls-dir", agentDir(t, "host-a"), "--resources", "cpus:2;mem:1024;disk:2048")
	agora := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, append(args, "--master-http", m.HTTP)...).CombinedOutput()
		if err != nil {
			t.Fatalf("agora %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	st := waitState(t, m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	id := st.Agents[0].Info.Id.Value
	run := startProc(t, "run", "run", "--master", m.Remoting, "--timeout", "60s", "--mem", "16", "--", "sleep", "600")
	run.out.waitFor(t, "TASK_RUNNING")

	if got := agora("maintenance", "schedule", "host-a", "--in", "8s", "--duration", "15s"); !strings.Contains(got, "windows: 1, machines: 1") {
		t.Fatalf("agora maintenance schedule: %s", got)
	}
	if got := agora("maintenance", "show"); !strings.Contains(got, "scheduled") || !strings.Contains(got, "host-a") {
		t.Fatalf("agora maintenance show:\n%s", got)
	}
	// Told before the window, killed at its start.
	run.out.waitFor(t, "agent "+id+" is being drained")
	run.out.waitFor(t, "TASK_KILLED")
	<-run.done
	waitState(t, m.HTTP, func(st *messages.MasterState) bool {
		return len(st.Agents) == 1 && st.Agents[0].Drain.GetState() == messages.DrainInfo_DRAINED
	})
	// Over: active again, without an operator.
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return len(st.Agents) == 1 && st.Agents[0].Drain == nil })
	if got := agora("maintenance", "show"); !strings.Contains(got, "over") {
		t.Fatalf("agora maintenance show after the window:\n%s", got)
	}
	if got := agora("maintenance", "clear"); !strings.Contains(got, "cleared") {
		t.Fatalf("agora maintenance clear: %s", got)
	}
	if got := agora("maintenance", "show"); !strings.Contains(got, "no maintenance scheduled") {
		t.Fatalf("agora maintenance show after clear:\n%s", got)
	}
}
