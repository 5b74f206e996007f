package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// agora run never hangs (issue 16): with no master, the HTTP port for the
// remoting one, a Consul that does not answer, a role the master refuses,
// or a request no agent can hold, it ends within its --timeout saying what
// to do.
func TestAgoraRunFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	const timeout = 10 * time.Second
	for _, c := range []struct{ name, master, want string }{
		// Port 1 on loopback: nothing listens there (and nothing may bind
		// it without privileges).
		{"no master", "127.0.0.1:1", "no master is listening at 127.0.0.1:1"},
		{"the HTTP port", dev.HTTP, "is an HTTP API (the master's?), not a master's remoting address"},
		{"no Consul", "consul://127.0.0.1:1/agora", "no master answered at the leader in consul://127.0.0.1:1/agora within"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			out, err := exec.Command(agoraBin, "run", "--master", c.master, "--timeout", timeout.String(), "--", "true").CombinedOutput()
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Fatalf("err %v; want a failure saying %q:\n%s", err, c.want, out)
			}
			if took := time.Since(start); took > timeout+10*time.Second {
				t.Fatalf("took %v with --timeout %v", took, timeout)
			}
		})
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"refused role", []string{"--role", "x/../victim"}, "the master refused the framework:"},
		{"too large", []string{"--cpus", "512"}, "no agent of the cluster can run this task: it asks for cpus:512;mem:32, and of 1 agents the largest has cpus:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"run", "--master", dev.Remoting, "--timeout", "60s"}, c.args...), "--", "true")
			out, err := exec.Command(agoraBin, args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Fatalf("err %v; want a failure saying %q:\n%s", err, c.want, out)
			}
		})
	}
}

// agora run streams the task's output while it runs; Ctrl-C kills the
// task, tears the framework down and exits 130; a task ended by a signal
// exits 128+N.
func TestAgoraRunStreamsAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	run := startProc(t, "agora run", "run", "--master", dev.Remoting, "--poll", "100ms", "--", "sh", "-c", "echo first line; exec sleep 600")
	run.out.waitFor(t, "first line") // printed while the task still runs
	run.signal(syscall.SIGINT)
	select {
	case <-run.done:
	case <-time.After(60 * time.Second):
		t.Fatal("agora run did not end after Ctrl-C")
	}
	if code := run.cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(run.out.String(), "TASK_KILLED") {
		t.Fatalf("after Ctrl-C: exit %d; want 130 and the task killed:\n%s", code, run.out.String())
	}
	// Torn down: no framework is left on the master, no task runs.
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return len(st.Frameworks) == 0 })

	cmd := exec.Command(agoraBin, "run", "--master", dev.Remoting, "--timeout", "60s", "--", "sh", "-c", "kill -KILL $$")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 128+9 {
		t.Fatalf("a task killed by SIGKILL: exit %d; want 137:\n%s", code, out)
	}
}

// agora run survives a failover (issue 16: "after a master restart its
// clients never re-subscribe and hang"): its leader is SIGKILLed while the
// task runs; agora run subscribes again with the new leader, which learns
// the task from its agent, and it still streams the task's output and
// exits with its code when the task ends.
func TestAgoraRunSurvivesLeaderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Consul and agora processes; make test runs it")
	}
	c := startHAMasters(t)
	first := c.leader(t, "")
	waitState(t, first.HttpAddress, func(st *messages.MasterState) bool { return reachable(st) == 3 })
	gate := workDir(t) + "/gate"
	mkfifo(t, gate)
	run := startProc(t, "agora run", "run", "--master", c.election, "--timeout", "60s", "--poll", "100ms", "--",
		"sh", "-c", "echo before; read x < "+gate+"; echo after; exit 7")
	run.out.waitFor(t, "before")

	victim := c.byHTTP(first.HttpAddress)
	victim.p.signal(syscall.SIGKILL)
	<-victim.p.done
	next := c.leader(t, first.Id)
	waitState(t, next.HttpAddress, func(st *messages.MasterState) bool {
		return len(st.Frameworks) == 1 && st.Frameworks[0].Connected && st.Frameworks[0].Info.GetName() == "agora-run" &&
			st.Frameworks[0].Tasks["TASK_RUNNING"] == 1
	})
	if err := os.WriteFile(gate, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-run.done:
	case <-time.After(60 * time.Second):
		t.Fatal("agora run did not end after its task did, across the failover")
	}
	if code := run.cmd.ProcessState.ExitCode(); code != 7 || !strings.Contains(run.out.String(), "after") {
		t.Fatalf("agora run across a failover: exit %d; want 7 and the task's output after it:\n%s", code, run.out.String())
	}
	// It tore its framework down on the way out, on the new leader.
	waitState(t, next.HttpAddress, func(st *messages.MasterState) bool { return len(st.Frameworks) == 0 })
}
