package scheduler_test

import (
	"fmt"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

// A framework that runs one shell command on the first offer that fits,
// declines the rest, and stops when the command ends.
func Example() {
	// A master and an agent in this process (in production: the master's
	// PID). Concurrent: their actors run on their own, as a real master's
	// would, while this program waits on its channel.
	c, err := testkit.New(testkit.Options{Agents: 1, Concurrent: true})
	if err != nil {
		panic(err)
	}
	defer c.Stop()

	done := make(chan messages.TaskState)
	task := scheduler.Command("hello", "echo hello", scheduler.Resources("cpus:0.1;mem:32"))
	handler := scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.Offers:
			for i, o := range ev.Offers {
				if task != nil && scheduler.Fits(o.Resources, task.Resources) {
					d.Launch(ev.Offers[i:i+1], task)
					task = nil
					continue
				}
				d.Decline([]*messages.OfferID{o.Id}, 60)
			}
		case *messages.StatusUpdate:
			fmt.Println(ev.Status.State)
			if messages.IsTerminal(ev.Status.State) {
				done <- ev.Status.State
				d.Stop()
			}
		}
	})
	c.System.Root.Spawn(scheduler.Props(scheduler.Config{
		Master: c.Master,
		Info:   &messages.FrameworkInfo{Name: "hello", Roles: []string{"default"}},
		Clock:  c.Clock,
	}, handler))
	<-done
	// Output:
	// TASK_STARTING
	// TASK_RUNNING
	// TASK_FINISHED
}
