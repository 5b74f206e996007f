package mastership

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var quiet = slog.New(slog.DiscardHandler)

// node is one master node of a test: its own actor system and seat.
type node struct {
	sys      *actor.ActorSystem
	seat     *Seat
	led      chan uint64 // a term's epoch, once it runs
	stopped  chan SteppedDown
	standing chan struct{} // the standby holds the name
}

func newNode(t *testing.T, id string) *node {
	t.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	t.Cleanup(sys.Shutdown)
	n := &node{sys: sys, led: make(chan uint64, 8), stopped: make(chan SteppedDown, 8), standing: make(chan struct{}, 8)}
	sys.EventStream.Subscribe(func(ev any) {
		switch ev := ev.(type) {
		case Leading:
			n.led <- ev.Epoch
		case SteppedDown:
			n.stopped <- ev
		case StandingBy:
			n.standing <- struct{}{}
		}
	})
	info := &messages.MasterInfo{Id: id, Address: id + ":5055", HttpAddress: id + ":5050"}
	n.seat = New(Config{
		System: sys, Info: info, Standby: true, Logger: quiet,
		Term: func(info *messages.MasterInfo) (master.Config, allocation.Config, error) {
			pol, _ := allocator.New("drf", allocator.Options{Seed: 1})
			return master.Config{Logger: quiet, Publisher: &master.Publisher{}, Metrics: master.NewMetrics(prometheus.NewRegistry()),
					Liveness: master.LivenessPolicy{Interval: time.Second, MaxMisses: 3}},
				allocation.Config{Policy: pol, Logger: quiet, Metrics: allocation.NewMetrics(prometheus.NewRegistry())}, nil
		},
	})
	return n
}

func recv[T any](t *testing.T, what string, ch <-chan T) T {
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

// ask subscribes a scheduler with the node's master name and returns the
// first answer: the leading master's, or the standby's.
func ask(t *testing.T, n *node) any {
	t.Helper()
	answers := make(chan any, 4)
	probe := n.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Request(actor.NewPID(n.sys.Address(), master.Name),
				&messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}, Pid: ctx.Self()})
		case *messages.FrameworkSubscribed, *messages.Error:
			answers <- m
		}
	}))
	defer n.sys.Root.Stop(probe)
	return recv(t, "an answer from the master's name", answers)
}

// Two masters: one leads, the other stands by and answers NOT_LEADER.
// When the leader's term is lost it steps down (its actors stop, its name
// is the standby's again) and the other leads with the next epoch.
func TestSeatLeadsStepsDownAndStandsBy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g leader.Group
	a, b := newNode(t, "a"), newNode(t, "b")
	go a.seat.Run(ctx, g.Contender(a.seat.cfg.Info), g.Detector())
	if e := recv(t, "a leads", a.led); e != 1 {
		t.Fatalf("a leads with epoch %d, want 1", e)
	}
	gauges(t, "a, leading", a, 1, 1)
	go b.seat.Run(ctx, g.Contender(b.seat.cfg.Info), nil)
	recv(t, "b stands by", b.standing)
	gauges(t, "b, standing by", b, 0, 0)
	// a announces itself only after it starts serving (Leading comes
	// first): wait for the announcement, as a detector would.
	announced, err := g.Detector().Detect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.seat.Follow(announced)
	if res := ask(t, a); !a.seat.Leading() {
		t.Fatal("a does not lead")
	} else if _, ok := res.(*messages.FrameworkSubscribed); !ok {
		t.Fatalf("the leader's master answered a subscription with %v", res)
	}
	if e, ok := ask(t, b).(*messages.Error); !ok || e.Code != messages.Error_NOT_LEADER || e.Leader.GetId() != "a" {
		t.Fatalf("the standby answered %v, want NOT_LEADER naming a", e)
	}

	g.Depose()
	if sd := recv(t, "a's actors stopped", a.stopped); sd.Epoch != 1 || !errors.Is(sd.Reason, leader.ErrDeposed) {
		t.Fatalf("a stepped down: %+v", sd)
	}
	if e := recv(t, "b leads", b.led); e != 2 {
		t.Fatalf("b leads with epoch %d, want 2", e)
	}
	if a.seat.Leading() || a.seat.Master() != nil {
		t.Fatal("a still leads after its term was lost")
	}
	recv(t, "a stands by", a.standing)
	// b announces its term once it runs: detectors then see it.
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	var seen *messages.MasterInfo
	for seen.GetId() != "b" {
		var err error
		if seen, err = g.Detector().Detect(dctx, seen); err != nil {
			t.Fatalf("b never announced: %v", err)
		}
	}
	a.seat.Follow(seen)
	if e, ok := ask(t, a).(*messages.Error); !ok || e.Code != messages.Error_NOT_LEADER || e.Leader.GetId() != "b" {
		t.Fatalf("a, deposed, answered %v; want NOT_LEADER naming b", e)
	}
	if got := value(a.seat.metrics.stepDowns); got != 1 {
		t.Fatalf("a counted %v step-downs, want 1", got)
	}
	gauges(t, "a, deposed", a, 0, 0)
	gauges(t, "b, leading", b, 1, 2)
}

// A standby holds its warm heap written until it leads; the term frees it,
// and a master that steps down holds it again once its standby has the
// name.
func TestStandbyHoldsAWarmHeapUntilItLeads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g leader.Group
	const warm = 8 << 20
	a, b := newNode(t, "a"), newNode(t, "b")
	a.seat.cfg.WarmHeap, b.seat.cfg.WarmHeap = warm, warm
	held := func(who string, n *node, want int) {
		t.Helper()
		if got := value(n.seat.metrics.warmHeap); got != float64(want) {
			t.Fatalf("%s: agora_master_warm_heap_bytes %v, want %d", who, got, want)
		}
		n.seat.mu.Lock()
		defer n.seat.mu.Unlock()
		if len(n.seat.warm) != want {
			t.Fatalf("%s holds %d bytes warm, want %d", who, len(n.seat.warm), want)
		}
		for i := 0; i < len(n.seat.warm); i += os.Getpagesize() {
			if n.seat.warm[i] != 1 {
				t.Fatalf("%s: page %d of the warm heap was never written", who, i/os.Getpagesize())
			}
		}
	}
	go a.seat.Run(ctx, g.Contender(a.seat.cfg.Info), nil)
	recv(t, "a leads", a.led)
	held("a, leading", a, 0)
	bDone := make(chan struct{})
	go func() { b.seat.Run(ctx, g.Contender(b.seat.cfg.Info), nil); close(bDone) }()
	recv(t, "b stands by", b.standing)
	held("b, standing by", b, warm)
	warmed := make(chan int, 4)
	a.sys.EventStream.Subscribe(func(ev any) {
		if w, ok := ev.(HeapWarmed); ok {
			warmed <- w.Bytes
		}
	})
	g.Depose()
	recv(t, "a's actors stopped", a.stopped)
	recv(t, "b leads", b.led)
	held("b, leading", b, 0)
	if n := recv(t, "a warms again", warmed); n != warm {
		t.Fatalf("a warmed %d bytes, want %d", n, warm)
	}
	held("a, deposed and standing by", a, warm)
	// A master that shuts down steps down and gives the lock up without
	// warming first.
	cancel()
	recv(t, "b's actors stopped", b.stopped)
	select {
	case <-bDone:
	case <-time.After(10 * time.Second):
		t.Fatal("b's Run did not return within 10 s of its context's end")
	}
	held("b, shut down", b, 0)
}

// gauges checks a node's agora_master_leading and agora_master_epoch
// (issue 16: alerting on "no leader" and on failovers needs both). They
// are set before Leading and SteppedDown are published.
func gauges(t *testing.T, who string, n *node, leading, epoch float64) {
	t.Helper()
	if l, e := value(n.seat.metrics.leading), value(n.seat.metrics.epoch); l != leading || e != epoch {
		t.Fatalf("%s: agora_master_leading %v, agora_master_epoch %v; want %v and %v", who, l, e, leading, epoch)
	}
}

// A master that cannot start its term (here its configuration cannot be
// read) gives the lock up, so another can lead.
func TestSeatThatCannotLeadResigns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g leader.Group
	broken := newNode(t, "broken")
	tried := make(chan struct{}, 1)
	broken.seat.cfg.Term = func(*messages.MasterInfo) (master.Config, allocation.Config, error) {
		tried <- struct{}{}
		return master.Config{}, allocation.Config{}, errors.New("role configuration unreadable")
	}
	go broken.seat.Run(ctx, g.Contender(broken.seat.cfg.Info), nil)
	recv(t, "broken tried", tried)
	recv(t, "broken stands by", broken.standing)
	ok := newNode(t, "ok")
	go ok.seat.Run(ctx, g.Contender(ok.seat.cfg.Info), nil)
	if e := recv(t, "ok leads", ok.led); e != 2 {
		t.Fatalf("ok leads with epoch %d, want 2", e)
	}
	if _, isErr := ask(t, broken).(*messages.Error); !isErr {
		t.Fatal("the master that could not lead answers as leader")
	}
}

// Issue 19: once the term has ended, nothing its actors send leaves, even
// if they run on before they stop.
func TestFenceDropsWhatATermSendsAfterItEnded(t *testing.T) {
	n := newNode(t, "a")
	got := make(chan any, 4)
	probe := n.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.FrameworkHeartbeat); ok {
			got <- ctx.Message()
		}
	}))
	var fenced atomic.Bool
	fence := &termFence{fenced: &fenced, sent: n.seat.metrics.sent, dropped: n.seat.metrics.fenced}
	sender := n.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if msg, ok := ctx.Message().(*messages.FrameworkHeartbeat); ok && fence.Admit() {
			ctx.Send(probe, msg)
		}
	}))
	n.sys.Root.Send(sender, &messages.FrameworkHeartbeat{MasterEpoch: 1})
	recv(t, "sent while leading", got)
	fenced.Store(true)
	n.sys.Root.Send(sender, &messages.FrameworkHeartbeat{MasterEpoch: 1})
	_ = n.sys.Root.PoisonFuture(sender).Wait() // after the second message
	select {
	case m := <-got:
		t.Fatalf("%v left a fenced actor", m)
	default:
	}
	if s, f := value(n.seat.metrics.sent), value(n.seat.metrics.fenced); s != 1 || f != 1 {
		t.Fatalf("sent %v, fenced %v; want 1 and 1", s, f)
	}
}

// A standby's HTTP API redirects to the leader (307), or answers 503 when
// it knows none; /metrics is its own.
func TestHandlerRedirectsToTheLeader(t *testing.T) {
	n := newNode(t, "a")
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "state") })
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") })
	srv := httptest.NewServer(n.seat.Handler(api, metrics))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/state", "/master/redirect"} {
		if r := get(path); r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s with no leader known: %d, want 503", path, r.StatusCode)
		}
	}
	n.seat.Follow(&messages.MasterInfo{Id: "b", HttpAddress: "b:5050", Epoch: 7})
	// Mesos' bookmark for the leader: //host:port, from any master.
	for _, path := range []string{"/redirect", "/master/redirect"} {
		if r := get(path); r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != "//b:5050" {
			t.Fatalf("%s, leader b: %d to %q", path, r.StatusCode, r.Header.Get("Location"))
		}
	}
	if r := get("/state?since=1"); r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != "http://b:5050/state?since=1" {
		t.Fatalf("leader b: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get("/metrics"); r.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", r.StatusCode)
	}
	if err := n.seat.Lead(8); err != nil {
		t.Fatal(err)
	}
	if r := get("/state"); r.StatusCode != http.StatusOK {
		t.Fatalf("leading: %d", r.StatusCode)
	}
	if r := get("/master/redirect"); r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != "//"+n.seat.cfg.Info.GetHttpAddress() {
		t.Fatalf("/master/redirect on the leader: %d to %q; want itself", r.StatusCode, r.Header.Get("Location"))
	}
	n.seat.StepDown(leader.ErrLeaseExpired)
	if r := get("/state"); r.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("after stepping down: %d, want a redirect to b", r.StatusCode)
	}
}

func value(m prometheus.Metric) float64 {
	var d dto.Metric
	_ = m.Write(&d)
	return d.GetCounter().GetValue() + d.GetGauge().GetValue()
}
