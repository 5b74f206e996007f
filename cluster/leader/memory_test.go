package leader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
)

func master(id string) *messages.MasterInfo {
	return &messages.MasterInfo{Id: id, Address: id + ":5055", HttpAddress: id + ":5050"}
}

// campaign runs Contender.Campaign on its own goroutine; the term (or the
// error) arrives on the returned channel.
func campaign(ctx context.Context, c leader.Contender) <-chan *leader.Term {
	ch := make(chan *leader.Term, 1)
	go func() {
		term, _ := c.Campaign(ctx)
		ch <- term
	}()
	return ch
}

// announce publishes a term, or fails the test.
func announce(t *testing.T, term *leader.Term) *leader.Term {
	t.Helper()
	if err := term.Announce(context.Background()); err != nil {
		t.Fatalf("announce epoch %d: %v", term.Epoch(), err)
	}
	return term
}

func await[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing within 10 s", what)
		var zero T
		return zero
	}
}

func detect(ctx context.Context, d leader.Detector, previous *messages.MasterInfo) <-chan *messages.MasterInfo {
	ch := make(chan *messages.MasterInfo, 1)
	go func() {
		info, _ := d.Detect(ctx, previous)
		ch <- info
	}()
	return ch
}

// Contenders are elected in turn, each term with a larger epoch; a
// deposed leader learns it from its term, and detectors see every leader.
func TestGroupElectsInTurn(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g leader.Group
	a := await(t, "a elected", campaign(ctx, g.Contender(master("a"))))
	if a.Epoch() != 1 || a.Leader.Id != "a" {
		t.Fatalf("first term %v", a.Leader)
	}
	if g.Leader() != nil {
		t.Fatal("detectors see a before it announced its term")
	}
	announce(t, a)
	bElected := campaign(ctx, g.Contender(master("b")))
	if l := await(t, "detect a", detect(ctx, g.Detector(), nil)); l.GetId() != "a" || l.Epoch != 1 {
		t.Fatalf("detected %v, want a at epoch 1", l)
	}
	next := detect(ctx, g.Detector(), a.Leader)
	if !g.Depose() {
		t.Fatal("Depose found no term")
	}
	await(t, "a's term lost", func() <-chan struct{} { return a.Lost() }())
	if !errors.Is(a.Err(), leader.ErrDeposed) {
		t.Fatalf("a's term ended with %v", a.Err())
	}
	b := announce(t, await(t, "b elected", bElected))
	if b.Epoch() != 2 {
		t.Fatalf("b's epoch %d, want 2", b.Epoch())
	}
	if err := a.Announce(ctx); err == nil {
		t.Fatal("a deposed leader announced its term")
	}
	if l := await(t, "detect a change", next); l != nil && l.GetId() != "b" {
		t.Fatalf("after a: detected %v", l)
	}
	if l := await(t, "detect b", detect(ctx, g.Detector(), nil)); l.GetId() != "b" {
		t.Fatalf("detected %v, want b", l)
	}
	b.Resign()
	if !errors.Is(b.Err(), leader.ErrResigned) || g.Leader() != nil {
		t.Fatalf("after resigning: err %v, leader %v", b.Err(), g.Leader())
	}
}

// A campaign whose context ends is withdrawn; a term whose campaign
// context ends is resigned.
func TestGroupCampaignEndsWithItsContext(t *testing.T) {
	var g leader.Group
	actx, acancel := context.WithCancel(context.Background())
	a := await(t, "a elected", campaign(actx, g.Contender(master("a"))))
	bctx, bcancel := context.WithCancel(context.Background())
	bDone := campaign(bctx, g.Contender(master("b")))
	bcancel()
	if term := await(t, "b withdrawn", bDone); term != nil {
		t.Fatalf("b elected after its campaign ended: %v", term.Leader)
	}
	acancel()
	await(t, "a's term lost", func() <-chan struct{} { return a.Lost() }())
	if !errors.Is(a.Err(), leader.ErrResigned) {
		t.Fatalf("a's term ended with %v", a.Err())
	}
	c := await(t, "c elected", campaign(context.Background(), g.Contender(master("c"))))
	if c.Epoch() != 2 {
		t.Fatalf("c's epoch %d, want 2 (b never led)", c.Epoch())
	}
}

func TestStaticDetector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d := leader.Static("10.0.0.1:5055")
	l, err := d.Detect(ctx, nil)
	if err != nil || l.Address != "10.0.0.1:5055" {
		t.Fatalf("Detect = %v, %v", l, err)
	}
	if _, err := d.Detect(ctx, l); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a static leader changed: %v", err)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]leader.Spec{
		"127.0.0.1:5055":                {Static: "127.0.0.1:5055"},
		"consul://127.0.0.1:8500/prod":  {Consul: "127.0.0.1:8500", Cluster: "prod"},
		"consul://127.0.0.1:8500/prod/": {Consul: "127.0.0.1:8500", Cluster: "prod"},
	} {
		got, err := leader.Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if err == nil && got.Static == "" && got.String() != "consul://127.0.0.1:8500/prod" {
			t.Errorf("String() = %q", got.String())
		}
	}
	for _, bad := range []string{"", "localhost", "consul://127.0.0.1:8500", "consul://127.0.0.1:8500/a/b", "http://x:1/c", "consul:///c"} {
		if _, err := leader.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
