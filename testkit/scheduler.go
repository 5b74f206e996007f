package testkit

import (
	"math/rand/v2"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// StartScheduler spawns a scheduler actor for info on the cluster, running
// handler. Its events also land in c.Events (as SchedulerEvent), so tests
// can wait on what the framework saw.
func (c *Cluster) StartScheduler(info *messages.FrameworkInfo, handler scheduler.Handler, opts ...func(*scheduler.Config)) *actor.PID {
	c.mu.Lock()
	c.started++
	seed := uint64(c.started)
	c.mu.Unlock()
	// Seeded by its number, so that its retry jitter repeats run after run.
	cfg := scheduler.Config{Master: c.Master, Info: info, Clock: c.Clock, Logger: c.logger, ActorOptions: c.actorOpts,
		Rand: rand.New(rand.NewPCG(2, seed))}
	for _, o := range opts {
		o(&cfg)
	}
	name := info.GetName()
	pid := c.System.Root.Spawn(scheduler.Props(cfg, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		if handler != nil {
			handler.Receive(d, ev)
		}
		// Recorded once handled, so a test that waits for the event
		// sees what the handler did with it.
		if se := (SchedulerEvent{Framework: name, Event: ev}); c.opts.Record == nil || c.opts.Record(se) {
			c.Events.record(se)
		}
	})))
	c.mu.Lock()
	c.schedulers[name] = append(c.schedulers[name], pid)
	c.mu.Unlock()
	return pid
}

// Schedulers returns the scheduler actors started for a framework name.
func (c *Cluster) Schedulers(name string) []*actor.PID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*actor.PID(nil), c.schedulers[name]...)
}

// SchedulerEvent is an event a testkit scheduler received.
type SchedulerEvent struct {
	Framework string
	Event     any
}

// IsStatus matches a scheduler's status update for a task in a state.
func IsStatus(framework, taskID string, state messages.TaskState) func(any) bool {
	return func(ev any) bool {
		se, ok := ev.(SchedulerEvent)
		if !ok || se.Framework != framework {
			return false
		}
		u, ok := se.Event.(*messages.StatusUpdate)
		return ok && u.Status.TaskId.GetValue() == taskID && u.Status.State == state
	}
}

// IsSubscribed matches the master's event for a framework subscription.
func IsSubscribed(ev any) bool { _, ok := ev.(master.FrameworkSubscribed); return ok }
