package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// A persistent volume the master checkpoints on the agent is a directory
// under its work dir (Mesos' <work_dir>/volumes/roles/<role>/<id>) that
// keeps its files across the agent's restart, and is removed with its
// files once the master no longer names it (DESTROY).
func TestVolumeDirectoryFollowsCheckpoint(t *testing.T) {
	clock := testkit.NewFakeClock()
	sys, masterPID := startMaster(t, clock)
	dir := t.TempDir()
	static := []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "disk", Scalar: 1000}}
	written := make(chan struct{}, 4)
	hook := func(path string) {
		if filepath.Base(path) == "resources" {
			written <- struct{}{}
		}
	}
	start := func() *actor.PID {
		return sys.Root.Spawn(agent.Props(agent.WithDiskHook(agent.Config{
			Info:   &messages.AgentInfo{Hostname: "h", Resources: static},
			Master: masterPID, WorkDir: dir, Clock: clock, Logger: testLogger(), WriteInline: true,
			Containerizer: testkit.SimContainerizer{Clock: clock},
		}, hook)))
	}
	wait := func() {
		t.Helper()
		select {
		case <-written:
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("the agent never wrote its reservations")
		}
	}
	resv := &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "eng/db", Principal: "alice"}
	withVolume := []*messages.Resource{
		{Name: "disk", Scalar: 100, Role: "eng/db", Reservation: resv},
		{Name: "disk", Scalar: 200, Role: "eng/db", Reservation: resv, Disk: &messages.DiskInfo{PersistenceId: "v1", ContainerPath: "data"}},
	}
	pid := start()
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: withVolume, MasterEpoch: 1})
	wait()
	vol := filepath.Join(dir, "volumes", "roles", "eng%2Fdb", "v1")
	if err := os.WriteFile(filepath.Join(vol, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatalf("the volume's directory was not made: %v", err)
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	pid = start()
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: withVolume, MasterEpoch: 1})
	wait()
	if _, err := os.Stat(filepath.Join(vol, "kept")); err != nil {
		t.Fatalf("the volume lost its file across the agent's restart: %v", err)
	}
	destroyed := []*messages.Resource{{Name: "disk", Scalar: 300, Role: "eng/db", Reservation: resv}}
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: destroyed, MasterEpoch: 1})
	wait()
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Fatalf("a destroyed volume's directory is still there (stat: %v)", err)
	}
}

// A volume on a static reservation (--resources 'disk(eng):1000'; Mesos
// allows volumes on any reserved disk) is checkpointed like one on a
// dynamic reservation: carved out of the role's static disk, kept with its
// files across the agent's restart and reported when the agent registers
// again (how a new leader learns it), and given back to the static disk
// with its directory removed once the master no longer names it.
func TestVolumeOnStaticReservationSurvivesRestart(t *testing.T) {
	clock := testkit.NewFakeClock()
	sys, masterPID := startMaster(t, clock)
	dir := t.TempDir()
	static := []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "disk", Scalar: 1000, Role: "eng"}}
	written := make(chan struct{}, 4)
	hook := func(path string) {
		if filepath.Base(path) == "resources" {
			written <- struct{}{}
		}
	}
	start := func() (*actor.PID, chan sentMsg) {
		sent := make(chan sentMsg, 256)
		pid := sys.Root.Spawn(agent.Props(agent.WithDiskHook(agent.Config{
			Info:   &messages.AgentInfo{Hostname: "h", Resources: static},
			Master: masterPID, WorkDir: dir, Clock: clock, Logger: testLogger(), WriteInline: true,
			Containerizer: testkit.SimContainerizer{Clock: clock}, SenderMiddleware: []actor.SenderMiddleware{recordSent(sent, dir)},
		}, hook)))
		return pid, sent
	}
	wait := func() {
		t.Helper()
		select {
		case <-written:
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("the agent never wrote what it checkpoints")
		}
	}
	registration := func(sent chan sentMsg) *messages.AgentInfo {
		t.Helper()
		for {
			select {
			case m := <-sent:
				switch r := m.msg.(type) {
				case *messages.RegisterAgent:
					return r.Info
				case *messages.ReregisterAgent:
					return r.Info
				}
			case <-time.After(testkit.WaitTimeout):
				t.Fatal("the agent did not register")
			}
		}
	}
	vol := &messages.Resource{Name: "disk", Scalar: 300, Role: "eng", Disk: &messages.DiskInfo{PersistenceId: "v1", ContainerPath: "data", Principal: "alice"}}
	pid, sent := start()
	registration(sent)
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: []*messages.Resource{vol}, MasterEpoch: 1})
	wait()
	path := filepath.Join(dir, "volumes", "roles", "eng", "v1")
	if err := os.WriteFile(filepath.Join(path, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatalf("the volume's directory was not made: %v", err)
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	pid, sent = start()
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	info := registration(sent)
	var plain, vols []string
	for _, r := range info.Resources {
		if r.Role != "eng" {
			continue
		}
		if messages.IsVolume(r) {
			vols = append(vols, fmt.Sprintf("%s:%g:%v", r.Disk.PersistenceId, r.Scalar, r.Reservation))
		} else {
			plain = append(plain, fmt.Sprintf("%s:%g", r.Name, r.Scalar))
		}
	}
	if fmt.Sprint(plain) != "[disk:700]" || fmt.Sprint(vols) != "[v1:300:<nil>]" {
		t.Fatalf("after a restart the agent reports eng's static disk %v and volumes %v; want [disk:700] and [v1:300:<nil>] (%s)", plain, vols, messages.FormatResources(info.Resources))
	}
	if _, err := os.Stat(filepath.Join(path, "kept")); err != nil {
		t.Fatalf("the volume lost its file across the agent's restart: %v", err)
	}
	// DESTROY: the master checkpoints nothing.
	sys.Root.Send(pid, &messages.CheckpointResources{MasterEpoch: 1})
	wait()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a destroyed volume's directory is still there (stat: %v)", err)
	}
}

// A shared persistent volume is used by two command tasks at once (real
// processes, each waiting for what the other writes in it), and a third
// task mounting it read-only reads their files while the kernel refuses
// its write (Read-only file system).
func TestSharedVolumeUsedByTasksAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes: make test runs it")
	}
	clock := testkit.NewFakeClock()
	sys, pid, sent := registeredAgentWith(t, clock, agent.Config{
		Info:          &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}, {Name: "mem", Scalar: 256}, {Name: "disk", Scalar: 100, Role: "r"}}},
		Containerizer: containerizer.Command{},
	}, nil)
	// The read-only view is a mount under the agent's work dir: unmounted
	// before the directory is removed.
	t.Cleanup(func() {
		views, _ := filepath.Glob(filepath.Join(os.TempDir(), t.Name()+"*", "*", "volumes", "ro", "*", "*"))
		for _, v := range views {
			if err := containerizer.UnmountReadOnlyView(v); err != nil {
				t.Error(err)
			}
		}
	})
	shared := &messages.Resource{Name: "disk", Scalar: 10, Role: "r", Shared: true, Disk: &messages.DiskInfo{PersistenceId: "s1", ContainerPath: "data"}}
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: []*messages.Resource{shared}, MasterEpoch: 1})
	task := func(id, shell string, readOnly bool) *messages.RunTask {
		rt := runTask(id, nil)
		rt.Task.Command = &messages.CommandInfo{Value: shell, Shell: true}
		v := proto.Clone(shared).(*messages.Resource)
		v.Disk.ReadOnly = readOnly
		rt.Task.Resources = append(rt.Task.Resources, v)
		return rt
	}
	// Each writes its file, then waits (bounded) for the other's: both
	// finish only if they ran on the one volume at the same time.
	meet := func(mine, other string) string {
		return fmt.Sprintf("echo %s > data/%s && i=0; while [ ! -e data/%s ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; test -e data/%s", mine, mine, other, other)
	}
	sys.Root.Send(pid, task("a", meet("a", "b"), false))
	sys.Root.Send(pid, task("b", meet("b", "a"), false))
	ended := func(want ...string) map[string]*messages.TaskStatus {
		t.Helper()
		out := map[string]*messages.TaskStatus{}
		for len(out) < len(want) {
			s := next(t, sent, fmt.Sprintf("the end of tasks %v", want), isUpdate).msg.(*messages.StatusUpdate).Status
			if messages.IsTerminal(s.State) {
				out[s.TaskId.Value] = s
			}
		}
		return out
	}
	for id, s := range ended("a", "b") {
		if s.State != messages.TaskState_TASK_FINISHED {
			t.Fatalf("task %s on the shared volume ended %v (%s); want both to see each other's file and finish", id, s.State, s.Message)
		}
	}
	sys.Root.Send(pid, task("reader", `cat data/a data/b && ( echo c > data/a ) 2>&1 | grep -q "Read-only file system"`, true))
	if s := ended("reader")["reader"]; s.State != messages.TaskState_TASK_FINISHED {
		t.Fatalf("the read-only task ended %v (%s); want it to read both files and its write refused as Read-only file system", s.State, s.Message)
	}
}

// A command task mounting a volume read-only leaves its read-only view (a
// mount under the work dir) for later readers; destroying the volume
// unmounts the view before its directory is removed.
func TestReadOnlyViewGoesWithTheVolume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes: make test runs it")
	}
	dir := t.TempDir()
	view := filepath.Join(dir, "volumes", "ro", "r", "v1")
	t.Cleanup(func() { _ = containerizer.UnmountReadOnlyView(view) })
	written := make(chan struct{}, 4)
	hook := func(path string) {
		if filepath.Base(path) == "resources" {
			written <- struct{}{}
		}
	}
	// Registered before the task is sent: an agent still registering
	// drops what it is sent (make test saw it, under load).
	sys, pid, sent := registeredAgentWith(t, testkit.NewFakeClock(), agent.Config{
		Info:    &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}, {Name: "mem", Scalar: 256}, {Name: "disk", Scalar: 100, Role: "r"}}},
		WorkDir: dir, WriteInline: true, Containerizer: containerizer.Command{},
	}, hook)
	wait := func() {
		t.Helper()
		select {
		case <-written:
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("the agent never wrote what it checkpoints")
		}
	}
	vol := &messages.Resource{Name: "disk", Scalar: 10, Role: "r", Disk: &messages.DiskInfo{PersistenceId: "v1", ContainerPath: "data"}}
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: []*messages.Resource{vol}, MasterEpoch: 1})
	wait()
	rt := runTask("reader", nil)
	rt.Task.Command = &messages.CommandInfo{Value: `( echo x > data/f ) 2>&1 | grep -q "Read-only file system"`, Shell: true}
	ro := proto.Clone(vol).(*messages.Resource)
	ro.Disk.ReadOnly = true
	rt.Task.Resources = append(rt.Task.Resources, ro)
	sys.Root.Send(pid, rt)
	for {
		s := next(t, sent, "the read-only task's end", isUpdate).msg.(*messages.StatusUpdate).Status
		if !messages.IsTerminal(s.State) {
			continue
		}
		if s.State != messages.TaskState_TASK_FINISHED {
			t.Fatalf("the read-only task ended %v (%s); want its write refused as Read-only file system", s.State, s.Message)
		}
		break
	}
	if _, err := os.Stat(view); err != nil {
		t.Fatalf("no read-only view after the task: %v", err)
	}
	sys.Root.Send(pid, &messages.CheckpointResources{MasterEpoch: 1}) // DESTROY
	wait()
	for _, gone := range []string{view, filepath.Join(dir, "volumes", "roles", "r", "v1")} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Fatalf("%s is still there after the volume was destroyed (stat: %v)", gone, err)
		}
	}
}
