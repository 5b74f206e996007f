package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/messages"
)

func agentNamed(st *messages.MasterState, host string) *messages.AgentState {
	for _, a := range st.Agents {
		if a.Info.Hostname == host {
			return a
		}
	}
	return nil
}

// agora agents drain on real processes: two frameworks (the elastic example
// and agora run) have tasks on agent host-a; draining it with a 5 s
// deadline tells both, kills their tasks at the deadline, the elastic
// example runs its tasks again on host-b (host-a is offered to nobody), and
// /state shows host-a DRAINED; agora agents reactivate makes it offerable
// again (a task only it can fit lands there).
func TestDrainAgentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, m := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort)
	agent := func(host string) {
		startNode(t, host, "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
			"--work-dir", workDir(t), "--tls-dir", agentDir(t, host), "--resources", "cpus:2;mem:1024;disk:2048")
	}
	agora := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, append(args, "--master-http", m.HTTP)...).CombinedOutput()
		if err != nil {
			t.Fatalf("agora %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	agent("host-a")
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	elastic := startBin(t, elasticBin, "elastic", "--master", m.Remoting, "--command", "sleep 600", "--resources", "cpus:0.1;mem:16", "--tasks", "2")
	run := startProc(t, "run", "run", "--master", m.Remoting, "--timeout", "60s", "--mem", "16", "--", "sleep", "600")
	elastic.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	elastic.out.waitFor(t, "task_id=task-0001 state=TASK_RUNNING")
	run.out.waitFor(t, "TASK_RUNNING")
	agent("host-b")
	st := waitState(t, m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 2 })
	a := agentNamed(st, "host-a").Info.Id.Value
	if got := agora("tasks", "--agent", a, "--state", "running"); strings.Count(got, "TASK_RUNNING") != 3 {
		t.Fatalf("want the 3 tasks of both frameworks on host-a:\n%s", got)
	}
	if got := agora("agents", "describe", "host-a"); !strings.Contains(got, "RUNNING:3") {
		t.Fatalf("agora agents describe does not count host-a's 3 running tasks:\n%s", got)
	}

	if got := agora("agents", "drain", "host-a", "--deadline", "5s"); !strings.Contains(got, "is draining") {
		t.Fatalf("agora agents drain: %s", got)
	}
	elastic.out.waitFor(t, `msg="agent draining: tasks left there at the deadline are killed and run again elsewhere" agent_id=`+a)
	run.out.waitFor(t, "agent "+a+" is being drained")
	// At the deadline both frameworks' tasks are killed; the elastic one
	// runs its tasks again, on host-b.
	run.out.waitFor(t, "TASK_KILLED")
	<-run.done
	elastic.out.waitFor(t, "-moved-1 state=TASK_RUNNING")
	elastic.out.waitFor(t, "-moved-2 state=TASK_RUNNING")
	st = waitState(t, m.HTTP, func(st *messages.MasterState) bool {
		d := agentNamed(st, "host-a").Drain
		return d.GetState() == messages.DrainInfo_DRAINED && len(st.Frameworks) == 1 && st.Frameworks[0].Tasks["TASK_RUNNING"] == 2
	})
	b := agentNamed(st, "host-b").Info.Id.Value
	if got := agora("tasks", "--agent", b, "--state", "running"); strings.Count(got, "-moved-") != 2 {
		t.Fatalf("the elastic example's tasks did not move to host-b:\n%s", got)
	}
	if got := agora("tasks", "--agent", a, "--state", "active"); strings.Contains(got, "TASK_") {
		t.Fatalf("live tasks on the drained agent:\n%s", got)
	}
	if got := agora("agents"); !strings.Contains(got, "DRAINED") {
		t.Fatalf("agora agents does not show the drain:\n%s", got)
	}

	if got := agora("agents", "reactivate", "host-a"); !strings.Contains(got, "active again") {
		t.Fatalf("agora agents reactivate: %s", got)
	}
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return agentNamed(st, "host-a").Drain == nil })
	// host-b has 1.8 cpus left: a task of 1.9 fits host-a only.
	out, err := exec.Command(agoraBin, "run", "--master", m.Remoting, "--timeout", "60s", "--cpus", "1.9", "--mem", "16", "--", "true").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "on host-a") {
		t.Fatalf("after reactivation a task that fits only host-a: %v\n%s", err, out)
	}
	elastic.signal(syscall.SIGINT)
	elastic.out.waitFor(t, "tearing down")
}

// A drain survives a SIGKILL of the leading master: the new leader, whose
// books start empty, learns it from the agent's re-registration, keeps the
// agent from offers, kills what is left at the deadline (the elastic
// example runs it again elsewhere), and shows it DRAINED; reactivation
// through it ends the drain.
func TestDrainSurvivesLeaderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Consul and agora processes; make test runs it")
	}
	const tasks = 3
	c := startHA(t, tasks)
	first := c.leader(t, "")
	st := waitState(t, first.HttpAddress, func(st *messages.MasterState) bool {
		return len(st.Frameworks) == 1 && st.Frameworks[0].Tasks["TASK_RUNNING"] == tasks && reachable(st) == 3
	})
	agora := func(httpAddr string, args ...string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, append(args, "--master-http", httpAddr)...).CombinedOutput()
		if err != nil {
			t.Fatalf("agora %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// The agent of the first running task.
	rows := strings.Split(strings.TrimSpace(agora(first.HttpAddress, "tasks", "--state", "running", "--json")), "\n")
	var target string
	for _, a := range st.Agents {
		for _, r := range rows {
			if strings.Contains(r, a.Info.Id.Value) {
				target = a.Info.Id.Value
			}
		}
	}
	if target == "" {
		t.Fatalf("no agent runs a task:\n%s", strings.Join(rows, "\n"))
	}
	if got := agora(first.HttpAddress, "agents", "drain", target, "--deadline", "15s"); !strings.Contains(got, "is draining") {
		t.Fatalf("agora agents drain: %s", got)
	}
	c.framework.out.waitFor(t, `msg="agent draining: tasks left there at the deadline are killed and run again elsewhere" agent_id=`+target)
	before := waitState(t, first.HttpAddress, func(st *messages.MasterState) bool {
		for _, a := range st.Agents {
			if a.Info.Id.Value == target {
				return a.Drain.GetState() == messages.DrainInfo_DRAINING
			}
		}
		return false
	})
	var deadline int64
	for _, a := range before.Agents {
		if a.Info.Id.Value == target {
			deadline = a.Drain.DeadlineUnixNano
		}
	}

	victim := c.byHTTP(first.HttpAddress)
	victim.p.signal(syscall.SIGKILL)
	<-victim.p.done
	next := c.leader(t, first.Id)
	// Restored from the agent, then DRAINED at the deadline: the new
	// leader killed what was left and the framework ran it elsewhere.
	waitState(t, next.HttpAddress, func(st *messages.MasterState) bool {
		for _, a := range st.Agents {
			if a.Info.Id.Value == target && a.Drain != nil && a.Drain.DeadlineUnixNano != deadline {
				t.Fatalf("the new leader restored deadline %d, want %d", a.Drain.DeadlineUnixNano, deadline)
			}
		}
		return reachable(st) == 3 && len(st.Frameworks) == 1 && st.Frameworks[0].Tasks["TASK_RUNNING"] == tasks &&
			drainState(st, target) == messages.DrainInfo_DRAINED
	})
	c.framework.out.waitFor(t, "-moved-1 state=TASK_RUNNING")
	if got := agora(next.HttpAddress, "tasks", "--agent", target, "--state", "active"); strings.Contains(got, "TASK_") {
		t.Fatalf("live tasks on the drained agent after failover:\n%s", got)
	}
	if got := agora(next.HttpAddress, "agents", "reactivate", target); !strings.Contains(got, "active again") {
		t.Fatalf("agora agents reactivate: %s", got)
	}
	waitState(t, next.HttpAddress, func(st *messages.MasterState) bool {
		return drainState(st, target) == messages.DrainInfo_DRAIN_STATE_UNSPECIFIED
	})
}

func drainState(st *messages.MasterState, id string) messages.DrainInfo_State {
	for _, a := range st.Agents {
		if a.Info.Id.Value == id {
			return a.Drain.GetState()
		}
	}
	return messages.DrainInfo_DRAIN_STATE_UNSPECIFIED
}

// Issue 16's acceptance on real processes: two masters elected through
// Consul, two agents, two frameworks (the elastic example twice) with
// tasks on host-a. host-a is drained with a deadline and the leader is
// SIGKILLed before it: the new leader has host-a draining with the same
// deadline (learned from its re-registration), kills both frameworks'
// tasks there at the deadline with REASON_AGENT_DRAINING (the elastic
// example runs only those again, as -moved-N, so their running copies
// show the reason), offers host-a to nobody (every copy runs on host-b),
// and shows it DRAINED.
func TestDrainTwoFrameworksSurvivesLeaderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Consul and agora processes; make test runs it")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	c := &haCluster{consul: consultest.Start(t)}
	c.election = "consul://" + c.consul + "/test-" + hex.EncodeToString(b)
	dir := workDir(t)
	for i := 0; i < 2; i++ {
		m := &haMaster{name: fmt.Sprintf("master-%d", i)}
		m.args = []string{"node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, fmt.Sprintf("m%d", i)),
			"--election", c.election, "--allocation-interval", "200ms"}
		m.start(t)
		c.masters = append(c.masters, m)
	}
	agent := func(host string) {
		startNode(t, host, "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort,
			"--work-dir", filepath.Join(dir, host), "--master", c.election, "--tls-dir", agentDir(t, host),
			"--resources", "cpus:2;mem:1024;disk:1024")
	}
	agora := func(httpAddr string, args ...string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, append(args, "--master-http", httpAddr)...).CombinedOutput()
		if err != nil {
			t.Fatalf("agora %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// Only host-a at first, so that both frameworks' tasks run there.
	agent("host-a")
	first := c.leader(t, "")
	waitState(t, first.HttpAddress, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	var frameworks []*proc
	for _, name := range []string{"elastic-1", "elastic-2"} {
		frameworks = append(frameworks, startBin(t, elasticBin, name, "--master", c.election, "--tasks", "2",
			"--command", "sleep 600", "--resources", "cpus:0.1;mem:16", "--failover-timeout", "1h"))
	}
	for _, f := range frameworks {
		f.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
		f.out.waitFor(t, "task_id=task-0001 state=TASK_RUNNING")
	}
	agent("host-b")
	st := waitState(t, first.HttpAddress, func(st *messages.MasterState) bool { return reachable(st) == 2 })
	a, hostB := agentNamed(st, "host-a").Info.Id.Value, agentNamed(st, "host-b").Info.Id.Value
	if got := agora(first.HttpAddress, "tasks", "--agent", a, "--state", "running"); strings.Count(got, "TASK_RUNNING") != 4 {
		t.Fatalf("want the 4 tasks of both frameworks on host-a:\n%s", got)
	}

	if got := agora(first.HttpAddress, "agents", "drain", "host-a", "--deadline", "12s"); !strings.Contains(got, "is draining") {
		t.Fatalf("agora agents drain: %s", got)
	}
	for _, f := range frameworks {
		f.out.waitFor(t, `msg="agent draining: tasks left there at the deadline are killed and run again elsewhere" agent_id=`+a)
	}
	st = waitState(t, first.HttpAddress, func(st *messages.MasterState) bool {
		return drainState(st, a) == messages.DrainInfo_DRAINING
	})
	deadline := agentNamed(st, "host-a").Drain.DeadlineUnixNano

	victim := c.byHTTP(first.HttpAddress)
	victim.p.signal(syscall.SIGKILL)
	<-victim.p.done
	if now := time.Now().UnixNano(); now >= deadline {
		t.Fatalf("the leader died %v after the drain deadline: the test wants it before", time.Duration(now-deadline))
	}
	next := c.leader(t, first.Id)
	// The new leader learns the drain from host-a's re-registration, with
	// its deadline: DRAINING while the deadline is ahead (a state read
	// before the deadline must not say DRAINED), DRAINED after it.
	waitState(t, next.HttpAddress, func(st *messages.MasterState) bool {
		ag := agentNamed(st, "host-a")
		if ag == nil || ag.Drain == nil {
			return false
		}
		if ag.Drain.DeadlineUnixNano != deadline {
			t.Fatalf("the new leader restored deadline %d, want %d", ag.Drain.DeadlineUnixNano, deadline)
		}
		left := time.Duration(deadline - time.Now().UnixNano())
		if ag.Drain.State != messages.DrainInfo_DRAINING && left > 0 {
			t.Fatalf("the new leader has host-a %v %v before the deadline, want DRAINING", ag.Drain.State, left)
		}
		t.Logf("the new leader has host-a %v, %v before the deadline", ag.Drain.State, left)
		return true
	})
	// At the deadline both frameworks' tasks on host-a are killed with
	// REASON_AGENT_DRAINING (the only reason elastic runs a task again as
	// -moved-N). Seen before the deadline, a kill came too early.
	for _, f := range frameworks {
		f.out.waitFor(t, "task_id=task-0000 state=TASK_KILLED")
		f.out.waitFor(t, "task_id=task-0001 state=TASK_KILLED")
		if now := time.Now().UnixNano(); now < deadline {
			t.Fatalf("%s: tasks killed %v before the drain deadline", f.name, time.Duration(deadline-now))
		}
		f.out.waitFor(t, "-moved-1 state=TASK_RUNNING")
		f.out.waitFor(t, "-moved-2 state=TASK_RUNNING")
	}
	st = waitState(t, next.HttpAddress, func(st *messages.MasterState) bool {
		if drainState(st, a) != messages.DrainInfo_DRAINED || reachable(st) != 2 || len(st.Frameworks) != 2 {
			return false
		}
		for _, f := range st.Frameworks {
			if f.Tasks["TASK_RUNNING"] != 2 {
				return false
			}
		}
		return true
	})
	// Nothing runs on host-a, and nothing was launched there after the
	// drain: every moved copy runs on host-b.
	if got := agora(next.HttpAddress, "tasks", "--agent", a, "--state", "active"); strings.Contains(got, "TASK_") {
		t.Fatalf("live tasks on the drained agent after failover:\n%s", got)
	}
	if got := agora(next.HttpAddress, "tasks", "--agent", a); strings.Contains(got, "-moved-") {
		t.Fatalf("a task launched on the drained agent after the drain:\n%s", got)
	}
	if got := agora(next.HttpAddress, "tasks", "--agent", hostB, "--state", "running"); strings.Count(got, "-moved-") != 4 {
		t.Fatalf("the 4 moved tasks do not run on host-b:\n%s", got)
	}
	if got := agora(next.HttpAddress, "agents"); !strings.Contains(got, "DRAINED") {
		t.Fatalf("agora agents on the new leader does not show the drain:\n%s", got)
	}
}
