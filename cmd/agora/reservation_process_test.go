package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// agentReserves reports whether the agent on host reports want (text
// syntax, e.g. cpus(prod):1) among its resources, added up.
func agentReserves(st *messages.MasterState, host, want string) bool {
	a := agentNamed(st, host)
	return a != nil && a.Reachable && strings.Contains(messages.FormatResources(messages.SumResources(a.Info.Resources)), want)
}

// Reservations on real processes: an operator reserves part of an agent for
// role prod (agora reserve); a task of prod runs on the reservation; the
// agent is killed and restarted and reports the reservation again (its
// checkpoint), and prod runs on it again while a framework of another role
// is never offered it.
func TestReservationProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, m := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort)
	wd := workDir(t)
	startAgent := func() *proc {
		p, _ := startNode(t, "host-a", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
			"--work-dir", wd, "--tls-dir", agentDir(t, "host-a"), "--resources", "cpus:2;mem:1024;disk:2048")
		return p
	}
	agora := func(args ...string) (string, error) {
		t.Helper()
		out, err := exec.Command(agoraBin, append(args, "--master-http", m.HTTP)...).CombinedOutput()
		return string(out), err
	}
	runOn := func(role string, reserved bool, cpus string) (string, error) {
		args := []string{"run", "--master", m.Remoting, "--timeout", "20s", "--role", role, "--cpus", cpus, "--mem", "128"}
		if reserved {
			args = append(args, "--reserved")
		}
		out, err := exec.Command(agoraBin, append(args, "--", "echo", "ran-as-"+role)...).CombinedOutput()
		return string(out), err
	}
	agent := startAgent()
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	// The agent must have its ID on disk before it is killed, or it comes
	// back as a new agent.
	waitFile(t, filepath.Join(wd, "agent_id"), "")

	if out, err := agora("reserve", "host-a", "cpus(prod):1;mem(prod):256", "--label", "owner:db"); err != nil || !strings.Contains(out, "reserved for prod") {
		t.Fatalf("agora reserve: %v\n%s", err, out)
	}
	if out, err := agora("reserve", "host-a", "cpus(prod):5"); err == nil || !strings.Contains(out, "is free") {
		t.Fatalf("reserving more than the agent has free was not refused: %v\n%s", err, out)
	}
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return agentReserves(st, "host-a", "cpus(prod):1") })
	if out, err := runOn("prod", true, "1"); err != nil || !strings.Contains(out, "ran-as-prod") {
		t.Fatalf("a task of prod on its reservation: %v\n%s", err, out)
	}
	waitFile(t, filepath.Join(wd, "resources"), "prod")

	agent.signal(syscall.SIGKILL)
	<-agent.done
	startAgent()
	st := waitState(t, m.HTTP, func(st *messages.MasterState) bool {
		return agentReserves(st, "host-a", "cpus(prod):1") && agentNamed(st, "host-a").Reregistrations > 0
	})
	if len(st.Agents) != 1 {
		t.Fatalf("the restarted agent registered as a new one: %v", st.Agents)
	}
	if out, err := runOn("prod", true, "1"); err != nil || !strings.Contains(out, "ran-as-prod") {
		t.Fatalf("a task of prod on its reservation after the agent's restart: %v\n%s", err, out)
	}
	// dev sees only the unreserved cpu: a task of 1.5 never fits.
	if out, err := runOn("dev", false, "1.5"); err == nil || strings.Contains(out, "ran-as-dev") {
		t.Fatalf("a task of dev ran on what is reserved for prod: %v\n%s", err, out)
	}
	if out, err := runOn("dev", false, "1"); err != nil || !strings.Contains(out, "ran-as-dev") {
		t.Fatalf("a task of dev on the unreserved rest: %v\n%s", err, out)
	}
	if out, err := agora("unreserve", "host-a", "cpus(prod):1;mem(prod):256"); err != nil || !strings.Contains(out, "unreserved from prod") {
		t.Fatalf("agora unreserve: %v\n%s", err, out)
	}
	if out, err := runOn("dev", false, "1.5"); err != nil || !strings.Contains(out, "ran-as-dev") {
		t.Fatalf("a task of dev once the reservation is gone: %v\n%s", err, out)
	}
}

// A new leader learns the reservations from the agents' re-registrations:
// after the leader is SIGKILLed, the reservation is in the new leader's
// state and a task of prod runs on it again.
func TestReservationSurvivesMasterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and Consul; make test runs it")
	}
	c := startHAMasters(t)
	first := c.leader(t, "")
	waitState(t, first.HttpAddress, func(st *messages.MasterState) bool { return reachable(st) == 3 })
	runProd := func() {
		t.Helper()
		out, err := exec.Command(agoraBin, "run", "--master", c.election, "--timeout", "30s", "--role", "prod", "--reserved",
			"--cpus", "1", "--mem", "128", "--", "echo", "ran-as-prod").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ran-as-prod") {
			t.Fatalf("a task of prod on its reservation: %v\n%s", err, out)
		}
	}
	out, err := exec.Command(agoraBin, "reserve", "agent-0", "cpus(prod):1;mem(prod):256", "--master-http", first.HttpAddress).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "reserved for prod") {
		t.Fatalf("agora reserve: %v\n%s", err, out)
	}
	// Once a task ran on it, the agent has applied the reservation.
	runProd()

	c.byHTTP(first.HttpAddress).p.signal(syscall.SIGKILL)
	next := c.leader(t, first.Id)
	waitState(t, next.HttpAddress, func(st *messages.MasterState) bool {
		return reachable(st) == 3 && agentReserves(st, "agent-0", "cpus(prod):1")
	})
	runProd()
}
