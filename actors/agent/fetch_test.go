package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"google.golang.org/protobuf/proto"
)

// recordingContainerizer publishes each launch's spec on the cluster's
// event stream, with the sandbox's files at that moment, and runs nothing.
type recordingContainerizer struct{ c *testkit.Cluster }

type launchSeen struct {
	spec  containerizer.LaunchSpec
	files map[string]os.FileMode
}

func (r recordingContainerizer) Launch(ctx context.Context, spec containerizer.LaunchSpec) (containerizer.Container, error) {
	files := map[string]os.FileMode{}
	entries, _ := os.ReadDir(spec.Sandbox)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			files[e.Name()] = info.Mode().Perm()
		}
	}
	r.c.System.EventStream.Publish(launchSeen{spec: spec, files: files})
	return stuckContainer{}, nil
}

// Mesos executors and fetched files: the agent fetches an executor's URIs
// into its sandbox before it starts it, with the environment Mesos gives
// executors; a command whose URI cannot be fetched fails with
// REASON_FETCHER_FAILED (as in Mesos), naming it.
func TestFetchAndMesosExecutorEnvironment(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	addAgent(t, c, testkit.AgentSpec{Containerizer: recordingContainerizer{c: c}, WorkDir: t.TempDir()})
	artifact := filepath.Join(t.TempDir(), "my-executor")
	if err := os.WriteFile(artifact, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	execInfo := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "ex"}, Mesos: true,
		Command: &messages.CommandInfo{Value: "./my-executor", Shell: true, Uris: []*messages.CommandInfo_URI{{Value: artifact, Executable: true}}}}
	var once sync.Once
	// A framework that does not checkpoint: its Mesos executor is told
	// MESOS_CHECKPOINT=0 (exit with the agent; not waited for).
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}, Checkpoint: proto.Bool(false)}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		if o, ok := ev.(*messages.Offers); ok {
			once.Do(func() {
				d.Launch(o.Offers[:1],
					&messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"}, Executor: execInfo, Resources: scheduler.Resources("cpus:0.5;mem:64")},
					&messages.TaskInfo{Name: "t2", TaskId: &messages.TaskID{Value: "t2"}, Resources: scheduler.Resources("cpus:0.5;mem:64"),
						Command: &messages.CommandInfo{Value: "true", Shell: true, Uris: []*messages.CommandInfo_URI{{Value: "/no/such/file"}}}})
			})
		}
	}))
	seen := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(launchSeen); return ok }).(launchSeen)
	env := seen.spec.Env
	if env["MESOS_EXECUTOR_ID"] != "ex" || env["MESOS_FRAMEWORK_ID"] == "" || env["MESOS_SANDBOX"] != seen.spec.Sandbox ||
		env["MESOS_DIRECTORY"] != seen.spec.Sandbox || env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "" || env["MESOS_CHECKPOINT"] != "0" || env["MESOS_RECOVERY_TIMEOUT"] != "" {
		t.Fatalf("a Mesos executor's environment: %v", env)
	}
	if mode, ok := seen.files["my-executor"]; !ok || mode != 0o755 {
		t.Fatalf("the executor's file in its sandbox at launch: %v", seen.files)
	}
	st := c.Events.WaitFor(t, testkit.IsStatus("fw", "t2", messages.TaskState_TASK_FAILED)).(testkit.SchedulerEvent).Event.(*messages.StatusUpdate).Status
	if st.Reason != messages.TaskStatusReason_REASON_FETCHER_FAILED || !strings.Contains(st.Message, "/no/such/file") {
		t.Fatalf("a failed fetch: %v", st)
	}
}
