package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// A task group of three Docker tasks, launched over Mesos' scheduler API
// by mesos-go's client library (testkit/mesosgo/groupcheck), starts on
// one agent in the agent's default executor, its tasks share one network
// namespace (one reaches another on 127.0.0.1), and they end together:
// when one fails the agent kills the one still running. A group that does
// not fit its offer is refused whole first (REASON_TASK_GROUP_INVALID).
// (Issue 17: "A task group of three starts together on one agent, shares
// a network namespace (Docker), and ends together.")
func TestDockerTaskGroupSharesNetworkAndEndsTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and Docker; make test runs it")
	}
	if out, err := exec.Command("docker", "image", "inspect", "agora/busybox:test").CombinedOutput(); err != nil {
		t.Fatalf("the task group runs agora/busybox:test: make images builds it: %v\n%s", err, out)
	}
	check := filepath.Join(filepath.Dir(agoraBin), "groupcheck")
	build := exec.Command("go", "build", "-o", check, "./groupcheck")
	build.Dir = filepath.Join("..", "..", "testkit", "mesosgo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building groupcheck: %v\n%s", err, out)
	}
	_, dev := startNode(t, "dev", "dev", "--insecure", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	for _, codec := range []string{"protobuf", "json"} {
		t.Run(codec, func(t *testing.T) {
			c := startBin(t, check, "groupcheck-"+codec, "-url", "http://"+dev.HTTP+"/api/v1/scheduler", "-codec", codec,
				"-image", "agora/busybox:test", "-timeout", "90s")
			if code := waitExit(t, c, 120*time.Second); code != 0 || !strings.Contains(c.out.String(), "task group checks passed") {
				t.Fatalf("groupcheck over %s exited %d:\n%s", codec, code, c.out.String())
			}
			t.Logf("groupcheck over %s:\n%s", codec, c.out.String())
		})
	}
}

// mesos-go's msh with -pod, unmodified, runs its command as a task group in
// Mesos' DEFAULT executor (LAUNCH_GROUP) on agora dev: the task finishes
// and msh exits 0.
func TestMshPodOnDev(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	msh := mesosGoBin(t, "msh")
	_, dev := startNode(t, "dev", "dev", "--insecure", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	sh := startBin(t, msh, "msh-pod", "-master", dev.HTTP, "-user", "nobody", "-pod", "-framework_name", "msh-pod", "--", "/bin/sh", "-c", "echo hello from a pod")
	if code := waitExit(t, sh, 60*time.Second); code != 0 || !strings.Contains(sh.out.String(), "TASK_FINISHED") {
		t.Fatalf("msh -pod exited %d:\n%s", code, sh.out.String())
	}
}
