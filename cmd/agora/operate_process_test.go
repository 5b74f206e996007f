package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// agora tasks, agora tasks kill and agora frameworks teardown, asked of a
// standby master of an HA cluster: it redirects to the leader (307), which
// lists, kills (the framework sees TASK_KILLED) and tears down.
func TestOperationsThroughAStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Consul and agora processes; make test runs it")
	}
	const tasks = 2
	c := startHA(t, tasks)
	lead := c.leader(t, "")
	st := waitState(t, lead.HttpAddress, func(st *messages.MasterState) bool {
		return len(st.Frameworks) == 1 && st.Frameworks[0].Tasks["TASK_RUNNING"] == tasks
	})
	fw := st.Frameworks[0].Info.Id.Value
	var standby string
	for _, m := range c.masters {
		if m.http != lead.HttpAddress {
			standby = m.http
			break
		}
	}
	agora := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(agoraBin, append(args, "--master-http", standby)...).CombinedOutput()
		if err != nil {
			t.Fatalf("agora %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	out := agora("tasks", "--state", "running", "--framework", fw)
	if n := strings.Count(out, "TASK_RUNNING"); n != tasks {
		t.Fatalf("agora tasks through the standby: %d running; want %d:\n%s", n, tasks, out)
	}
	task := strings.Fields(strings.Split(out, "\n")[1])[0]
	if got := agora("tasks", "kill", task); !strings.Contains(got, "is being killed") {
		t.Fatalf("agora tasks kill: %s", got)
	}
	c.framework.out.waitFor(t, "task_id="+task+" state=TASK_KILLED")
	if got := agora("tasks", "--state", "killed"); !strings.Contains(got, task) {
		t.Fatalf("the killed task is not listed as killed:\n%s", got)
	}

	if got := agora("frameworks", "teardown", fw); !strings.Contains(got, "is being torn down") {
		t.Fatalf("agora frameworks teardown: %s", got)
	}
	waitState(t, lead.HttpAddress, func(st *messages.MasterState) bool { return len(st.Frameworks) == 0 })
	if got := agora("frameworks"); strings.Contains(got, fw) {
		t.Fatalf("the torn-down framework is still listed:\n%s", got)
	}
}
