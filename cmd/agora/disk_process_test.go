package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// Disk enforcement on real processes (issue 17, item 2; Mesos' posix/disk
// isolator): a task whose sandbox holds more than its disk is killed by
// its agent, and its framework (agora run) is told TASK_FAILED with
// REASON_CONTAINER_LIMITATION_DISK and how much was used against how much
// was given. A persistent volume is bounded by its size likewise.
func TestDiskLimitProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, m := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort)
	startNode(t, "host-a", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
		"--work-dir", workDir(t), "--tls-dir", agentDir(t, "host-a"), "--resources", "cpus:2;mem:1024;disk:2048",
		"--disk-watch-interval", "200ms")
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, append([]string{"run", "--master", m.Remoting, "--timeout", "20s", "--cpus", "0.5", "--mem", "64"}, args...)...).CombinedOutput()
		if err == nil {
			t.Fatalf("agora run %v: the task ended well; want it killed for its disk\n%s", args, out)
		}
		return string(out)
	}
	// 3 MiB written into a sandbox given 1 MiB.
	out := run("--disk", "1", "--", "sh", "-c", "head -c 3145728 /dev/zero > blob && exec sleep 60")
	// The watch may look while head is still writing: any figure over the
	// limit is a right answer.
	if !regexp.MustCompile(`TASK_FAILED \(REASON_CONTAINER_LIMITATION_DISK\): disk limit reached: the sandbox uses (at least )?[1-3]\.[0-9] MiB of the 1 MiB the task was given`).MatchString(out) {
		t.Fatalf("agora run of a task over its disk:\n%s", out)
	}

	// 3 MiB written into a volume of 1 MiB.
	if out, err := exec.Command(agoraBin, "reserve", "host-a", "cpus(prod):1;mem(prod):256;disk(prod):64", "--master-http", m.HTTP).CombinedOutput(); err != nil {
		t.Fatalf("agora reserve: %v\n%s", err, out)
	}
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return agentReserves(st, "host-a", "disk(prod):64") })
	out = run("--role", "prod", "--reserved", "--volume", "db:state:1", "--", "sh", "-c", "head -c 3145728 /dev/zero > state/blob && exec sleep 60")
	if !regexp.MustCompile(`TASK_FAILED \(REASON_CONTAINER_LIMITATION_DISK\): disk limit reached: persistent volume "db" holds (at least )?[1-3]\.[0-9] MiB, more than its size 1 MiB`).MatchString(out) {
		t.Fatalf("agora run of a task over its volume:\n%s", out)
	}

	// The operator's volumes (agora volumes, POST /create-volumes and
	// /destroy-volumes): the volume the killed task left is listed and
	// destroyed; a new one is created and a task of prod uses it.
	volumes := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, append([]string{"volumes"}, append(args, "--master-http", m.HTTP)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("agora volumes %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	hasVolume := func(st *messages.MasterState, id string) bool {
		for _, r := range agentNamed(st, "host-a").GetInfo().GetResources() {
			if messages.IsVolume(r) && r.Disk.PersistenceId == id {
				return true
			}
		}
		return false
	}
	// /state is a snapshot the master publishes after a change: the
	// volume is listed once a snapshot holds it.
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return hasVolume(st, "db") })
	if out := volumes("list"); !regexp.MustCompile(`\bdb\s+state\b`).MatchString(out) {
		t.Fatalf("agora volumes list does not show volume db:\n%s", out)
	}
	volumes("destroy", "host-a", "--role", "prod", "db:state:1")
	volumes("create", "host-a", "--role", "prod", "logs:logs:8")
	waitState(t, m.HTTP, func(st *messages.MasterState) bool { return !hasVolume(st, "db") && hasVolume(st, "logs") })
	// Words, not substrings: agent IDs are hex, and one once held "db".
	named := func(out, word string) bool { return regexp.MustCompile(`\b` + word + `\b`).MatchString(out) }
	if out := volumes("list"); named(out, "db") || !named(out, "logs") {
		t.Fatalf("agora volumes list after destroying db and creating logs:\n%s", out)
	}
	out2, err := exec.Command(agoraBin, "run", "--master", m.Remoting, "--timeout", "20s", "--cpus", "0.5", "--mem", "64", "--role", "prod", "--reserved",
		"--volume", "logs:logs:8", "--", "sh", "-c", "echo in-the-volume > logs/f && cat logs/f").CombinedOutput()
	if err != nil || !strings.Contains(string(out2), "in-the-volume") || strings.Contains(string(out2), "creating volume") {
		t.Fatalf("a task on the operator's volume: %v\n%s", err, out2)
	}
}
