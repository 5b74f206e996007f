package master_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// allocatorChildEnv makes the test binary, run as a child, host only the
// allocator actor (see TestAllocatorOnAnotherNode).
const allocatorChildEnv = "AGORA_TEST_ALLOCATOR_CHILD"

func init() {
	masterAddr := os.Getenv(allocatorChildEnv)
	if masterAddr == "" {
		return
	}
	// The child: one node holding the allocator, which sends its grants
	// to the master on the parent's node. It prints its address, then
	// runs until its stdin closes (the parent ended).
	quiet := slog.New(slog.DiscardHandler)
	src, err := security.FromEnv().Load(security.RoleMaster, quiet) // the allocator runs on a master node
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	node, err := remoting.Start(remoting.Config{Bind: "127.0.0.1:0", Logger: quiet, TLS: src})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	pol, _ := policy.New("drf", policy.Options{Seed: 1})
	if _, err := node.System.Root.SpawnNamed(allocation.Props(allocation.Config{
		Policy: pol, Master: actor.NewPID(masterAddr, master.Name), Clock: clockwork.NewRealClock(), Logger: quiet, Interval: 100 * time.Millisecond,
	}), allocation.Name); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("allocator", node.Address)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// The allocator is an actor like the others and talks to the master only
// in protobuf: here it runs in another process and the whole offer loop
// crosses TCP between the two. (A child process, not a second node in
// this one: two proto.actor remotes in one process race with each other
// under the race detector.)
func TestAllocatorOnAnotherNode(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a child process over TCP; make test runs it")
	}
	logger := slog.New(slog.DiscardHandler)
	tlsDir := testTLS(t)
	src, err := security.Options{Dir: tlsDir}.Load(security.RoleMaster, logger)
	if err != nil {
		t.Fatal(err)
	}
	node, err := remoting.Start(remoting.Config{Bind: "127.0.0.1:0", Logger: logger, TLS: src})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Stop)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), allocatorChildEnv+"="+node.Address, security.EnvDir+"="+tlsDir)
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "allocator ")
	if err != nil || !ok {
		t.Fatalf("allocator child: %q %v", line, err)
	}

	clock := clockwork.NewRealClock()
	info := &messages.MasterInfo{Id: "m", Address: node.Address, Epoch: 1, Pid: actor.NewPID(node.Address, master.Name)}
	if _, err := node.System.Root.SpawnNamed(master.Props(master.Config{
		Info: info, Clock: clock, Logger: logger, Liveness: master.DefaultLiveness, Publisher: &master.Publisher{},
		Metrics: master.NewMetrics(prometheus.NewRegistry()), Allocator: actor.NewPID(addr, allocation.Name), OfferTimeout: time.Minute,
	}), master.Name); err != nil {
		t.Fatal(err)
	}
	res, _ := messages.ParseResources("cpus:2;mem:1024")
	node.System.Root.Spawn(agent.Props(agent.Config{
		Info: &messages.AgentInfo{Hostname: "a1", Resources: res}, Master: info.Pid, Clock: clock, Logger: logger,
		Containerizer: testkit.SimContainerizer{Clock: clock},
	}))

	statuses := make(chan messages.TaskState, 16)
	launched := false
	node.System.Root.Spawn(scheduler.Props(scheduler.Config{Master: info.Pid, Clock: clock, Logger: logger,
		Info: &messages.FrameworkInfo{Name: "remote-allocator", Roles: []string{"eng"}}},
		scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
			switch ev := ev.(type) {
			case *messages.Offers:
				if launched {
					d.Decline(scheduler.OfferIDs(ev.Offers), 60)
					return
				}
				launched = true
				d.Launch(ev.Offers[:1], &messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"},
					Command: &messages.CommandInfo{Value: "sleep 0"}, Resources: scheduler.Resources("cpus:1;mem:128")})
			case *messages.StatusUpdate:
				statuses <- ev.Status.State
			}
		})))

	// An offer that went from the agent's registration through the remote
	// allocator and back, and a task launched on it.
	for {
		select {
		case s := <-statuses:
			if s == messages.TaskState_TASK_RUNNING {
				return
			}
			if messages.IsTerminal(s) {
				t.Fatalf("task ended %v before it ran", s)
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("no task ran on an offer of the remote allocator")
		}
	}
}

// testTLS makes a CA and a certificate of each role in a temporary
// directory (as agora dev does), for a test whose nodes run mutual TLS.
func testTLS(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	names := map[security.Role]string{}
	for _, r := range security.Roles {
		names[r] = "test"
	}
	if _, err := security.Bootstrap(dir, names, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir
}
