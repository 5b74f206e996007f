package agent_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
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
