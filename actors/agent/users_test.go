package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

// launchAll launches its tasks together on the first offer.
type launchAll struct{ tasks []*messages.TaskInfo }

func (l *launchAll) Receive(d *scheduler.Driver, ev any) {
	if o, ok := ev.(*messages.Offers); ok && l.tasks != nil {
		d.Launch(o.Offers[:1], l.tasks...)
		l.tasks = nil
	}
}

// searchableDir is a work dir that tasks of every user can reach
// (t.TempDir and its parent are 0700).
func searchableDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, dir := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// A task runs as the user its command names, else as its framework's, else
// as the agent's default (Mesos' rule), with real processes; a user that
// does not exist on the agent fails the task, saying so.
func TestTaskRunsAsTheUserItNames(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("switching users needs root (make test runs as root)")
	}
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:2;mem:512"})
	dir := searchableDir(t)
	addAgent(t, c, testkit.AgentSpec{WorkDir: dir, TaskUser: "nobody"})
	res := scheduler.Resources("cpus:0.1;mem:16")
	whoami := func(id, user string) *messages.TaskInfo {
		task := scheduler.Command(id, "id -un", res)
		task.Command.User = user
		return task
	}
	c.StartScheduler(&messages.FrameworkInfo{Name: "plain", Roles: []string{"r"}}, &launchAll{tasks: []*messages.TaskInfo{
		whoami("default", ""), whoami("command", "daemon"), whoami("unknown", "no-such-user-agora"),
	}})
	c.StartScheduler(&messages.FrameworkInfo{Name: "bins", User: "bin", Roles: []string{"r"}}, &launchAll{tasks: []*messages.TaskInfo{
		whoami("framework", ""), whoami("command-over-framework", "daemon"),
	}})
	for _, want := range []struct{ fw, task, user string }{
		{"plain", "default", "nobody"}, {"plain", "command", "daemon"}, {"bins", "framework", "bin"}, {"bins", "command-over-framework", "daemon"},
	} {
		c.Events.WaitFor(t, testkit.IsStatus(want.fw, want.task, messages.TaskState_TASK_FINISHED))
		st := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 2 })
		id := ""
		for _, f := range st.Frameworks {
			if f.Info.Name == want.fw {
				id = f.Info.Id.Value
			}
		}
		out, _ := os.ReadFile(filepath.Join(dir, "frameworks", id, "tasks", want.task, "stdout"))
		if strings.TrimSpace(string(out)) != want.user {
			t.Errorf("%s/%s ran as %q, want %s", want.fw, want.task, out, want.user)
		}
	}
	ev := c.Events.WaitFor(t, testkit.IsStatus("plain", "unknown", messages.TaskState_TASK_FAILED)).(testkit.SchedulerEvent)
	if st := ev.Event.(*messages.StatusUpdate).Status; st.Reason != messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.Contains(st.Message, `"no-such-user-agora" does not exist on this agent`) {
		t.Fatalf("unknown user: %v %q", st.Reason, st.Message)
	}
}
