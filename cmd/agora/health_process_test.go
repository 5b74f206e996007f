package main

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A task whose HTTP health endpoint stops answering is killed by its agent
// within failures x (interval + timeout) of its first failed check, with
// TASK_KILLED, healthy=false and the reason; the elastic example runs it
// again. Its TASK_RUNNING updates carry healthy=true while it answers.
// (Issue 17: "A task whose HTTP health endpoint stops answering is killed
// within interval x failures and relaunched by its framework".)
func TestUnhealthyTaskKilledAndRelaunched(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("the task serves HTTP with busybox httpd: install busybox (Debian package busybox): %v", err)
	}
	dir := workDir(t)
	masterAddr, _ := startMaster(t, dir)
	startNode(t, "agent", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:2;mem:512;disk:64")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// The task serves /health, and after 3 s its server dies while the
	// task runs on: the endpoint stops answering, the task does not exit.
	command := fmt.Sprintf(`mkdir -p www && echo ok > www/health && %s httpd -f -p 127.0.0.1:%d -h www & pid=$!; sleep 3; kill $pid; exec sleep 600`, busybox, port)
	const interval, timeout, failures = 500 * time.Millisecond, 500 * time.Millisecond, 3
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "1", "--resources", "cpus:0.1;mem:32", "--command", command,
		"--health", fmt.Sprintf("http://:%d/health", port), "--health-delay", "200ms", "--health-interval", interval.String(),
		"--health-timeout", timeout.String(), "--health-grace", "2s", "--health-failures", fmt.Sprint(failures))

	fw.out.waitFor(t, `task_id=task-0000 state=TASK_RUNNING healthy=true message="health check passed"`)
	fw.out.waitFor(t, `task_id=task-0000 state=TASK_RUNNING healthy=false message="health check failed: unhealthy: GET http://127.0.0.1:`)
	unhealthy := time.Now()
	fw.out.waitFor(t, `task_id=task-0000 state=TASK_KILLING healthy=false`)
	// The first failure was reported; failures-1 more intervals and probes
	// kill it. A second of slack for the updates' way to the framework.
	if took, limit := time.Since(unhealthy), (failures-1)*(interval+timeout)+time.Second; took > limit {
		t.Fatalf("killed %s after the first failed check, want within %s", took, limit)
	}
	fw.out.waitFor(t, fmt.Sprintf(`task_id=task-0000 state=TASK_KILLED healthy=false message="killed: health check failed %d consecutive times (the limit)`, failures))
	fw.out.waitFor(t, `msg="task queued again" task_id=task-0000 as=task-0000-restarted-1 why="it failed its health check"`)
	fw.out.waitFor(t, `task_id=task-0000-restarted-1 state=TASK_RUNNING healthy=true`)
	fw.signal(syscall.SIGINT)
	fw.out.waitFor(t, "tearing down")
}

// agora run --health: the task's agent runs the check; a task that fails
// it is killed, and agora run says why and exits non-zero.
func TestAgoraRunHealthCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	cmd := exec.Command(agoraBin, "run", "--master", dev.Remoting, "--timeout", "60s", "--health", "cmd:test -f ready",
		"--health-interval", "300ms", "--health-grace", "1ns", "--health-failures", "2", "--", "sh", "-c", "touch ready; sleep 1; rm ready; exec sleep 600")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("agora run of a task killed as unhealthy exited 0:\n%s", out)
	}
	for _, want := range []string{"is healthy: health check passed", "is unhealthy: health check failed: unhealthy: command exited with code 1",
		"is TASK_KILLED: killed: health check failed 2 consecutive times (the limit)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("agora run's output lacks %q:\n%s", want, out)
		}
	}
}
