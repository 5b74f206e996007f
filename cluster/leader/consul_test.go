package leader_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/leader"
)

const testTTL = time.Second

func consulContender(t *testing.T, addr, cluster, id string) leader.Contender {
	t.Helper()
	client, err := leader.NewConsulClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := leader.NewConsulContender(leader.ConsulConfig{Client: client, Cluster: cluster, Info: master(id),
		CheckTTL: testTTL, LockDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func consulDetector(t *testing.T, addr, cluster string) leader.Detector {
	t.Helper()
	d, err := leader.Spec{Consul: addr, Cluster: cluster}.Detector(nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// One of two masters leads; the other waits. When the leader resigns (it
// shuts down), the other is elected with a larger epoch, and detection
// follows.
func TestConsulElectionFailsOverWithLargerEpoch(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul server; make test runs it")
	}
	addr := consultest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := announce(t, await(t, "a elected", campaign(ctx, consulContender(t, addr, "fo", "a"))))
	bElected := campaign(ctx, consulContender(t, addr, "fo", "b"))
	d := consulDetector(t, addr, "fo")
	if l := await(t, "detect a", detect(ctx, d, nil)); l.GetId() != "a" || l.Epoch != a.Epoch() || l.HttpAddress != "a:5050" {
		t.Fatalf("detected %v, want a at epoch %d", l, a.Epoch())
	}
	start := time.Now()
	a.Resign()
	b := announce(t, await(t, "b elected", bElected))
	t.Logf("b elected %v after a resigned", time.Since(start))
	if b.Epoch() <= a.Epoch() {
		t.Fatalf("b's epoch %d is not above a's %d", b.Epoch(), a.Epoch())
	}
	var l = a.Leader
	for l.GetId() != "b" {
		l = await(t, "detect b", detect(ctx, d, l))
	}
	if l.Epoch != b.Epoch() {
		t.Fatalf("detected b at epoch %d, want %d", l.Epoch, b.Epoch())
	}
}

// A leader whose session is destroyed (as when Consul invalidates it)
// learns within a renewal period that its term is over, and can be
// elected again with a larger epoch.
func TestConsulLeaderThatLosesItsSessionStepsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul server; make test runs it")
	}
	addr := consultest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := consulContender(t, addr, "lost", "a")
	first := await(t, "elected", campaign(ctx, c))
	client := consultest.Client(t, addr)
	pair, _, err := client.KV().Get(leader.Key("lost"), nil)
	if err != nil || pair == nil || pair.Session == "" {
		t.Fatalf("lock key %v, %v", pair, err)
	}
	start := time.Now()
	if _, err := client.Session().Destroy(pair.Session, nil); err != nil {
		t.Fatal(err)
	}
	await(t, "term lost", func() <-chan struct{} { return first.Lost() }())
	took := time.Since(start)
	if !errors.Is(first.Err(), leader.ErrLockLost) || took > testTTL {
		t.Fatalf("term ended with %v after %v; want ErrLockLost within the TTL %v", first.Err(), took, testTTL)
	}
	again := await(t, "elected again", campaign(ctx, c))
	if again.Epoch() <= first.Epoch() {
		t.Fatalf("re-elected with epoch %d, not above %d", again.Epoch(), first.Epoch())
	}
}

// Issue 19: a leader that cannot reach Consul (here every call hangs: the
// agent is stopped) ends its term by itself within its check's TTL, before
// Consul could end its session and let a successor in.
func TestConsulLeaderCutOffStepsDownWithinItsTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul server; make test runs it")
	}
	agent := consultest.StartAgent(t, consultest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	term := await(t, "elected", campaign(ctx, consulContender(t, agent.Addr, "cut", "a")))
	start := time.Now()
	agent.Signal(syscall.SIGSTOP)
	defer agent.Signal(syscall.SIGCONT)
	await(t, "term lost", func() <-chan struct{} { return term.Lost() }())
	took := time.Since(start)
	t.Logf("stepped down %v after Consul stopped answering (TTL %v)", took, testTTL)
	if !errors.Is(term.Err(), leader.ErrLeaseExpired) {
		t.Fatalf("term ended with %v, want ErrLeaseExpired", term.Err())
	}
	if took >= testTTL {
		t.Fatalf("the leader led %v after it lost Consul: not within its check's TTL %v", took, testTTL)
	}
}
