package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// Persistent volumes on real processes (issue 17, item 2): an operator
// reserves disk for prod; a task of prod creates a volume on it (agora run
// --volume) and writes a file there; a second task of prod reads it back,
// a third mounting it read-only (--read-only) reads it and cannot write;
// after the agent is SIGKILLed and restarted the volume is still there and
// a third task reads the file again. The same holds on a static
// reservation (the agent's --resources reserve the disk for prod), as
// Mesos allows volumes on any reserved disk.
func TestVolumeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	t.Run("reservation=dynamic", func(t *testing.T) { volumeProcesses(t, false) })
	t.Run("reservation=static", func(t *testing.T) { volumeProcesses(t, true) })
}

func volumeProcesses(t *testing.T, static bool) {
	_, m := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort)
	wd := workDir(t)
	resources := "cpus:2;mem:1024;disk:2048"
	if static {
		resources = "cpus:1;mem:768;disk:1536;cpus(prod):1;mem(prod):256;disk(prod):512"
	}
	startAgent := func() *proc {
		p, _ := startNode(t, "host-a", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
			"--work-dir", wd, "--tls-dir", agentDir(t, "host-a"), "--resources", resources)
		return p
	}
	run := func(shell string, flags ...string) (string, error) {
		t.Helper()
		args := append([]string{"run", "--master", m.Remoting, "--timeout", "20s", "--role", "prod", "--reserved",
			"--cpus", "0.5", "--mem", "64", "--volume", "db:state:256"}, flags...)
		out, err := exec.Command(agoraBin, append(args, "--", "sh", "-c", shell)...).CombinedOutput()
		return string(out), err
	}
	agent := startAgent()
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	waitFile(t, filepath.Join(wd, "agent_id"), "")
	if !static {
		out, err := exec.Command(agoraBin, "reserve", "host-a", "cpus(prod):1;mem(prod):256;disk(prod):512", "--master-http", m.HTTP).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "reserved for prod") {
			t.Fatalf("agora reserve: %v\n%s", err, out)
		}
	}
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return agentReserves(st, "host-a", "disk(prod):512") })

	if out, err := run("echo kept-across-tasks > state/f && echo wrote"); err != nil || !strings.Contains(out, "creating volume db") || !strings.Contains(out, "wrote") {
		t.Fatalf("the first task, creating the volume: %v\n%s", err, out)
	}
	vol := filepath.Join(wd, "volumes", "roles", "prod", "db")
	if b, err := os.ReadFile(filepath.Join(vol, "f")); err != nil || string(b) != "kept-across-tasks\n" {
		t.Fatalf("the volume on the agent holds %q (%v)", b, err)
	}
	if out, err := run("cat state/f"); err != nil || !strings.Contains(out, "kept-across-tasks") || strings.Contains(out, "creating volume") {
		t.Fatalf("the second task, on the offered volume: %v\n%s", err, out)
	}
	// Mounted read-only (Mesos' mode RO), the volume is read, and the
	// kernel refuses the task's write.
	if out, err := run("cat state/f && echo changed > state/f", "--read-only"); err == nil || !strings.Contains(out, "kept-across-tasks") || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("a task mounting the volume read-only: %v; want its read, then its write refused with Read-only file system\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "f")); err != nil || string(b) != "kept-across-tasks\n" {
		t.Fatalf("after the read-only task the volume holds %q (%v); want it unchanged", b, err)
	}
	sharedVolume(t, m.Remoting, m.HTTP)

	agent.signal(syscall.SIGKILL)
	<-agent.done
	startAgent()
	waitState(t, m.HTTP, func(st *messages.MasterState) bool {
		a := agentNamed(st, "host-a")
		return a != nil && a.Reachable && a.Reregistrations > 0
	})
	if out, err := run("cat state/f"); err != nil || !strings.Contains(out, "kept-across-tasks") || strings.Contains(out, "creating volume") {
		t.Fatalf("a task after the agent's restart: %v\n%s", err, out)
	}
}

// A new leader learns a volume from the agent's re-registration (its
// checkpointed reservations carry it): after the leader is SIGKILLed, a
// task of prod on the new leader is offered the volume and reads back what
// the first task wrote.
func TestVolumeSurvivesMasterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and Consul; make test runs it")
	}
	c := startHAMasters(t)
	first := c.leader(t, "")
	waitState(t, first.HttpAddress, func(st *messages.MasterState) bool { return reachable(st) == 3 })
	run := func(shell string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, "run", "--master", c.election, "--timeout", "30s", "--role", "prod", "--reserved",
			"--cpus", "0.5", "--mem", "64", "--volume", "db:state:256", "--", "sh", "-c", shell).CombinedOutput()
		if err != nil {
			t.Fatalf("a task of prod with its volume: %v\n%s", err, out)
		}
		return string(out)
	}
	out, err := exec.Command(agoraBin, "reserve", "agent-0", "cpus(prod):1;mem(prod):256;disk(prod):512", "--master-http", first.HttpAddress).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "reserved for prod") {
		t.Fatalf("agora reserve: %v\n%s", err, out)
	}
	if got := run("echo before-failover > state/f && echo wrote"); !strings.Contains(got, "creating volume db") || !strings.Contains(got, "wrote") {
		t.Fatalf("the first task did not create the volume and write:\n%s", got)
	}

	c.byHTTP(first.HttpAddress).p.signal(syscall.SIGKILL)
	next := c.leader(t, first.Id)
	waitState(t, next.HttpAddress, func(st *messages.MasterState) bool {
		return reachable(st) == 3 && agentReserves(st, "agent-0", "disk(prod):512")
	})
	if got := run("cat state/f"); !strings.Contains(got, "before-failover") || strings.Contains(got, "creating volume") {
		t.Fatalf("after the failover the task did not get the volume back:\n%s", got)
	}
}

// sharedVolume: an operator creates a shared volume on prod's reserved
// disk of host-a (agora volumes create --shared; listed as shared), and
// two tasks of two frameworks of prod (agora run --shared) use it at
// once: each writes its file there and waits for the other's.
func sharedVolume(t *testing.T, remoting, http string) {
	t.Helper()
	out, err := exec.Command(agoraBin, "volumes", "create", "host-a", "--role", "prod", "--shared", "pool:pool:64", "--master-http", http).CombinedOutput()
	if err != nil {
		t.Fatalf("agora volumes create --shared: %v\n%s", err, out)
	}
	waitState(t, http, func(st *messages.MasterState) bool {
		for _, r := range agentNamed(st, "host-a").GetInfo().GetResources() {
			if messages.IsVolume(r) && r.Disk.PersistenceId == "pool" {
				return r.Shared
			}
		}
		return false
	})
	out, err = exec.Command(agoraBin, "volumes", "list", "--master-http", http).CombinedOutput()
	if err != nil || !regexp.MustCompile(`pool\s+pool\s+64\s+yes`).Match(out) {
		t.Fatalf("agora volumes list does not show pool as shared: %v\n%s", err, out)
	}
	meet := func(mine, other string) *exec.Cmd {
		shell := fmt.Sprintf("echo %s > pool/%s && i=0; while [ ! -e pool/%s ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; cat pool/%s", mine, mine, other, other)
		return exec.Command(agoraBin, "run", "--master", remoting, "--timeout", "20s", "--role", "prod", "--reserved",
			"--cpus", "0.5", "--mem", "64", "--volume", "pool:pool:64", "--shared", "--", "sh", "-c", shell)
	}
	a, b := meet("from-a", "from-b"), meet("from-b", "from-a")
	var aOut, bOut strings.Builder
	a.Stdout, a.Stderr, b.Stdout, b.Stderr = &aOut, &aOut, &bOut, &bOut
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	aErr, bErr := a.Wait(), b.Wait()
	if aErr != nil || bErr != nil || !strings.Contains(aOut.String(), "from-b") || !strings.Contains(bOut.String(), "from-a") {
		t.Fatalf("two tasks on one shared volume at once: each should read the other's file\nfirst (%v):\n%s\nsecond (%v):\n%s", aErr, aOut.String(), bErr, bOut.String())
	}
}
