package election_test

import (
	"context"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/detect"
	"github.com/agora-sched/agora/cluster/election"
	"github.com/agora-sched/agora/messages"
)

type candidate struct {
	id     string
	cancel context.CancelFunc
	events chan election.Event
}

func campaign(t *testing.T, addr, key, id string) *candidate {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{id: id, cancel: cancel, events: make(chan election.Event, 16)}
	t.Cleanup(cancel)
	go func() {
		_ = election.Run(ctx, election.Config{
			Client: consultest.Client(t, addr), Key: key, CheckTTL: time.Second, LockDelay: 100 * time.Millisecond,
			Info: &messages.MasterInfo{Id: id, Address: id + ":1", HttpAddress: id + ":2"},
		}, c.events)
	}()
	return c
}

func (c *candidate) next(t *testing.T, ok func(election.Event) bool) election.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no matching election event within 30 s", c.id)
		}
	}
}

func leading(ev election.Event) bool { return ev.Leading }

// One of two candidates leads; the other follows it. When the leader shuts
// down (its check deregistered, its session destroyed), the follower is
// elected with a larger epoch, and detection reports the new leader. (A
// leader killed outright is the process test in cmd/agora.)
func TestElectionFailsOverWithLargerEpoch(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul server; make test runs it")
	}
	addr := consultest.Start(t)
	key := election.LeaderKey("test")
	a := campaign(t, addr, key, "a")
	first := a.next(t, leading)
	b := campaign(t, addr, key, "b")
	follow := b.next(t, func(ev election.Event) bool { return ev.Leader != nil })
	if follow.Leading || follow.Leader.Id != "a" || follow.Leader.Epoch != first.Epoch {
		t.Fatalf("b sees %+v, want a leading with epoch %d", follow, first.Epoch)
	}
	spec, _ := detect.Parse("consul://" + addr + "/test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if l, err := detect.Leader(ctx, spec); err != nil || l.Id != "a" || l.Epoch != first.Epoch || l.HttpAddress != "a:2" {
		t.Fatalf("detected %v, %v; want a at epoch %d", l, err, first.Epoch)
	}

	start := time.Now()
	a.cancel() // a shuts down
	won := b.next(t, leading)
	if won.Epoch <= first.Epoch {
		t.Fatalf("new epoch %d is not above %d", won.Epoch, first.Epoch)
	}
	l, err := detect.WaitLeader(ctx, spec, func(i *messages.MasterInfo) bool { return i.Id == "b" })
	if err != nil || l.Epoch != won.Epoch {
		t.Fatalf("detected %v, %v; want b at epoch %d", l, err, won.Epoch)
	}
	t.Logf("failover after the leader stopped: %v", time.Since(start))
}

// A leader whose session is destroyed (as when Consul invalidates it)
// reports losing leadership, then campaigns again.
func TestLeaderThatLosesItsSessionStepsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul server; make test runs it")
	}
	addr := consultest.Start(t)
	key := election.LeaderKey("test2")
	a := campaign(t, addr, key, "a")
	first := a.next(t, leading)
	client := consultest.Client(t, addr)
	pair, _, err := client.KV().Get(key, nil)
	if err != nil || pair == nil || pair.Session == "" {
		t.Fatalf("lock key %v, %v", pair, err)
	}
	if _, err := client.Session().Destroy(pair.Session, nil); err != nil {
		t.Fatal(err)
	}
	a.next(t, func(ev election.Event) bool { return !ev.Leading })
	again := a.next(t, leading)
	if again.Epoch <= first.Epoch {
		t.Fatalf("re-elected with epoch %d, not above %d", again.Epoch, first.Epoch)
	}
}
