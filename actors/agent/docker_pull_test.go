package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"github.com/agora-sched/agora/testkit/registry"
)

// Through the whole loop, against a real registry on loopback: a Docker
// task whose image the agent lacks has it pulled with the agent's
// credentials (--docker-config) and finishes; with wrong credentials it
// fails with REASON_CONTAINER_LAUNCH_FAILED and a message saying the
// registry denied the pull.
func TestDockerTaskPullsItsImage(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine and docker-registry; make test runs it")
	}
	r := registry.Start(t, "alice", "s3cret")
	for _, tc := range []struct {
		name, pass string
		want       messages.TaskState
	}{
		{"right credentials", "s3cret", messages.TaskState_TASK_FINISHED},
		{"wrong credentials", "wrong", messages.TaskState_TASK_FAILED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := containerizer.NewDocker()
			if err != nil {
				t.Fatalf("this test needs the Docker engine: %v", err)
			}
			ref := r.Push(t, d.Client, "agora/busybox:test", "agora/agent-pull:"+strings.Fields(tc.name)[0])
			cfgFile := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(cfgFile, r.ConfigJSON("alice", tc.pass), 0o600); err != nil {
				t.Fatal(err)
			}
			if d.Config, err = containerizer.LoadDockerConfig(cfgFile); err != nil {
				t.Fatal(err)
			}
			c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
			addAgent(t, c, testkit.AgentSpec{Docker: d, WorkDir: t.TempDir()})
			task := &messages.TaskInfo{Name: "p", TaskId: &messages.TaskID{Value: "p"}, Resources: scheduler.Resources("cpus:0.5;mem:64"),
				Command:   &messages.CommandInfo{Value: "true", Shell: true},
				Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: ref}}}
			c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
			ev := c.Events.WaitFor(t, testkit.IsStatus("fw", "p", tc.want)).(testkit.SchedulerEvent)
			st := ev.Event.(*messages.StatusUpdate).Status
			if tc.want == messages.TaskState_TASK_FAILED &&
				(st.Reason != messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED || !strings.Contains(st.Message, "pull denied") || !strings.Contains(st.Message, "refused the credentials")) {
				t.Fatalf("failed with %v (%s), want REASON_CONTAINER_LAUNCH_FAILED saying the pull was denied", st.Reason, st.Message)
			}
		})
	}
}
