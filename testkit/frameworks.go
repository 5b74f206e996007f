package testkit

import (
	"fmt"
	"sync"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
)

// Elastic is a simulated elastic framework: it keeps up to Target tasks of
// Shape alive, launching as many as fit in every offer and declining what
// it cannot use. Tasks that end are replaced. Use it as the handler of
// StartScheduler; its counters are safe to read from the test.
type Elastic struct {
	// Target is how many tasks it wants alive at once.
	Target int
	// Shape is each task's resources, such as "cpus:1;mem:1024".
	Shape string
	// Command is what each task runs (default "sleep 3600"); with a
	// SimContainerizer it only names the task.
	Command string
	// UseRevocable launches on resources offered as revocable, marking
	// the task's resources revocable; otherwise such offers are declined.
	UseRevocable bool

	mu    sync.Mutex
	next  int
	live  map[string]messages.TaskState
	ended map[messages.TaskState]int
}

// Live returns how many of its tasks are launched and not yet terminal.
func (e *Elastic) Live() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.live)
}

// Running returns how many of its tasks are RUNNING.
func (e *Elastic) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.live {
		if s == messages.TaskState_TASK_RUNNING {
			n++
		}
	}
	return n
}

// Ended returns how many of its tasks ended in state.
func (e *Elastic) Ended(state messages.TaskState) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ended[state]
}

// Receive implements scheduler.Handler.
func (e *Elastic) Receive(d *scheduler.Driver, ev any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.live == nil {
		e.live, e.ended = map[string]messages.TaskState{}, map[messages.TaskState]int{}
	}
	switch ev := ev.(type) {
	case *messages.Offers:
		for _, o := range ev.Offers {
			e.offer(d, o)
		}
	case *messages.StatusUpdate:
		id := ev.Status.TaskId.GetValue()
		if _, ok := e.live[id]; !ok {
			return
		}
		if messages.IsTerminal(ev.Status.State) {
			delete(e.live, id)
			e.ended[ev.Status.State]++
			return
		}
		e.live[id] = ev.Status.State
	}
}

func (e *Elastic) offer(d *scheduler.Driver, o *messages.Offer) {
	shape := scheduler.Resources(e.Shape)
	revocable := false
	for _, r := range o.Resources {
		revocable = revocable || r.Revocable
	}
	if revocable {
		if !e.UseRevocable {
			d.Decline([]*messages.OfferID{o.Id}, -1)
			return
		}
		for _, r := range shape {
			r.Revocable = true
		}
	}
	left := o.Resources
	var tasks []*messages.TaskInfo
	for len(e.live) < e.Target && scheduler.Fits(left, shape) {
		e.next++
		id := fmt.Sprintf("%s-%d", d.FrameworkID(), e.next)
		cmd := e.Command
		if cmd == "" {
			cmd = "sleep 3600"
		}
		tasks = append(tasks, scheduler.Command(id, cmd, shape))
		e.live[id] = messages.TaskState_TASK_STAGING
		left = scheduler.Subtract(left, shape)
	}
	if len(tasks) == 0 {
		d.Decline([]*messages.OfferID{o.Id}, -1)
		return
	}
	d.Launch([]*messages.Offer{o}, tasks...)
}
