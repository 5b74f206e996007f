package scale

import (
	"context"
	"fmt"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// The idle first offer is issue 18's definition, the one
// BenchmarkFirstOffer (actors/master) measures in one process: a
// framework subscribing to a cluster whose every agent is free, the clock
// from its subscription to its first offer. The task phase's first offers
// are another thing: 50 frameworks subscribing at once into a cluster
// whose resources the first of them already hold, each waiting for the
// others' declines. The harness reports both, each under its own name.

// runFirstOfferProbe is the child that subscribes args.Probes+1 frameworks to
// the master one after another, each torn down (and its removal
// confirmed by the master) before the next subscribes, so each finds
// every agent free again. The first sample also makes the process's
// connection to the master (TCP, and TLS unless insecure): it is
// reported apart as the cold one.
func runFirstOfferProbe(args childArgs, commands <-chan string) {
	node := startNode(security.RoleFramework)
	masterPID, follow := masterOf(args.Master)
	if masterPID == nil {
		leaders := make(chan *messages.MasterInfo, 1)
		follow(func(mi *messages.MasterInfo) {
			select {
			case leaders <- mi:
			default:
			}
		})
		select {
		case mi := <-leaders:
			masterPID = actor.NewPID(mi.Address, scheduler.MasterName)
		case <-time.After(time.Minute):
			fail(fmt.Errorf("first-offer probe: no leading master named in Consul at %s within a minute", args.Master))
		}
	}
	clock := clockwork.NewRealClock()
	var fromSpawn, fromSubscribed []int64
	for i := range args.Probes + 1 {
		type sample struct{ spawn, subscribed time.Duration }
		got := make(chan sample, 1)
		var subscribedAt time.Time
		offered := false
		start := time.Now()
		pid := node.System.Root.Spawn(scheduler.Props(scheduler.Config{
			Master: masterPID, Info: &messages.FrameworkInfo{Name: fmt.Sprintf("probe-%d", i), Roles: []string{"probe"}},
			Clock: clock, Logger: quiet,
		}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
			switch ev.(type) {
			case *messages.FrameworkSubscribed:
				subscribedAt = time.Now()
			case *messages.Offers:
				if !offered {
					offered = true
					now := time.Now()
					got <- sample{spawn: now.Sub(start), subscribed: now.Sub(subscribedAt)}
				}
			}
		})))
		select {
		case s := <-got:
			fromSpawn = append(fromSpawn, s.spawn.Nanoseconds())
			fromSubscribed = append(fromSubscribed, s.subscribed.Nanoseconds())
		case <-time.After(time.Minute):
			fail(fmt.Errorf("first-offer probe %d: no offer within a minute of subscribing to %s", i, masterPID))
		case <-commands:
			return // the harness gave up
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := scheduler.TeardownAndWait(ctx, node.System.Root, pid)
		cancel()
		if err != nil {
			fail(fmt.Errorf("first-offer probe %d: %w", i, err))
		}
	}
	say(report{Kind: "probed", FirstOffer: fromSpawn, Subscribed: fromSubscribed})
	for range commands {
	}
}

// idleFirstOffers runs the first-offer probe on the idle cluster (every
// agent registered, no framework yet) and fills the report's IdleFirstOffer
// figures.
func (r *run) idleFirstOffers(masterAddr string, rep *Report) error {
	r.cfg.Logf("scale: %d frameworks subscribing one at a time to the idle cluster", r.cfg.FirstOfferSamples)
	c, err := r.startChild("first-offer", "first-offer", childArgs{Master: masterAddr, Probes: r.cfg.FirstOfferSamples})
	if err != nil {
		return err
	}
	defer c.stop()
	res, err := c.expect("probed", r.cfg.Timeout)
	if err != nil {
		return err
	}
	if len(res.FirstOffer) != r.cfg.FirstOfferSamples+1 || len(res.Subscribed) != len(res.FirstOffer) {
		return fmt.Errorf("scale: the first-offer probe reported %d and %d samples, want %d", len(res.FirstOffer), len(res.Subscribed), r.cfg.FirstOfferSamples+1)
	}
	durations := func(ns []int64) []time.Duration {
		ds := make([]time.Duration, len(ns))
		for i, n := range ns {
			ds[i] = time.Duration(n)
		}
		return ds
	}
	rep.IdleFirstOfferCold = time.Duration(res.FirstOffer[0])
	rep.IdleFirstOffers = r.cfg.FirstOfferSamples
	samples := durations(res.FirstOffer[1:])
	for _, d := range samples {
		if d > 5*time.Millisecond {
			rep.IdleOverTarget++
		}
	}
	rep.IdleFirstOfferP50, rep.IdleFirstOfferP99, rep.IdleFirstOfferMax = percentiles(samples)
	rep.IdleSubscribedP50, rep.IdleSubscribedP99, _ = percentiles(durations(res.Subscribed[1:]))
	r.cfg.Logf("scale: idle first offer p50 %v, p99 %v over %d", rep.IdleFirstOfferP50, rep.IdleFirstOfferP99, rep.IdleFirstOffers)
	return nil
}
