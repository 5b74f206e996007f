// Command gang is an example of a fixed (MPI-like) framework: it needs K
// tasks started together. It holds offers across agents until they hold K
// slots, then launches all K at once; if that takes longer than a timeout,
// it declines everything it holds and tries again later.
//
//	agora dev &
//	go run ./cmd/examples/gang --size 4
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/cmd/internal/envflags"
	"github.com/agora-sched/agora/cmd/internal/logging"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// gangTimeout fires when a gathering attempt has taken too long.
type gangTimeout struct{ attempt int }

// Gang gathers K slots across offers, then launches K tasks at once.
type Gang struct {
	Size     int
	Slot     []*messages.Resource
	Command  string
	Wait     time.Duration
	Launched chan struct{} // closed when the gang is launched
	Finished chan struct{} // closed when all K tasks ended
	held     map[string]*messages.Offer
	attempt  int
	timing   bool
	launched bool
	ended    int
	// Attempts counts gathering attempts that timed out.
	Attempts int
}

// NewGang builds a gang of size tasks.
func NewGang(size int, slot []*messages.Resource, command string, wait time.Duration) *Gang {
	return &Gang{Size: size, Slot: slot, Command: command, Wait: wait, held: map[string]*messages.Offer{},
		Launched: make(chan struct{}), Finished: make(chan struct{})}
}

// slots counts how many tasks an offer can hold.
func (g *Gang) slots(o *messages.Offer) int {
	n, left := 0, o.Resources
	for scheduler.Fits(left, g.Slot) {
		left = scheduler.Subtract(left, g.Slot)
		n++
	}
	return n
}

// Receive implements scheduler.Handler.
func (g *Gang) Receive(d *scheduler.Driver, ev any) {
	switch ev := ev.(type) {
	case *messages.Offers:
		for _, o := range ev.Offers {
			if g.launched || g.slots(o) == 0 {
				d.Decline([]*messages.OfferID{o.Id}, 5)
				continue
			}
			g.held[o.Id.Value] = o
		}
		if !g.launched && !g.timing && len(g.held) > 0 {
			g.timing = true
			d.After(g.Wait, gangTimeout{attempt: g.attempt})
		}
		g.maybeLaunch(d)
	case *messages.RescindOffer:
		delete(g.held, ev.OfferId.Value)
	case gangTimeout:
		if g.launched || ev.attempt != g.attempt {
			return
		}
		// Not enough in time: give everything back so others can use it,
		// and gather again from scratch.
		var ids []*messages.OfferID
		for _, o := range g.held {
			ids = append(ids, o.Id)
		}
		d.Decline(ids, 1)
		g.held = map[string]*messages.Offer{}
		g.attempt++
		g.Attempts++
		g.timing = false
	case *messages.StatusUpdate:
		if messages.IsTerminal(ev.Status.State) {
			g.ended++
			if g.ended == g.Size {
				close(g.Finished)
				d.Teardown()
			}
		}
	}
}

func (g *Gang) maybeLaunch(d *scheduler.Driver) {
	total := 0
	for _, o := range g.held {
		total += g.slots(o)
	}
	if g.launched || total < g.Size {
		return
	}
	g.launched = true
	next := 0
	for _, o := range g.held {
		var tasks []*messages.TaskInfo
		for i := g.slots(o); i > 0 && next < g.Size; i-- {
			tasks = append(tasks, scheduler.Command(fmt.Sprintf("rank-%d", next), g.Command, g.Slot))
			next++
		}
		if len(tasks) == 0 {
			d.Decline([]*messages.OfferID{o.Id}, 5)
			continue
		}
		d.Launch([]*messages.Offer{o}, tasks...)
	}
	g.held = nil
	close(g.Launched)
	d.Suppress()
}

// envPrefix names gang's variables: GANG_MASTER for --master.
const envPrefix = "GANG"

// options are gang's flags.
type options struct {
	masterAddr *string
	listen     *string
	size       *int
	command    *string
	res        *string
	wait       *time.Duration
	tls        security.Options
	log        logging.Options
}

// newFlags defines gang's flags on fs, each with its environment variable
// (envflags), set from the environment.
func newFlags(fs *flag.FlagSet) (*options, error) {
	o := &options{}
	o.masterAddr = fs.String("master", "127.0.0.1:5055", "the master's remoting address")
	o.listen = fs.String("listen", "127.0.0.1:0", "address this framework listens on (the master must reach it)")
	o.size = fs.Int("size", 4, "tasks that must start together")
	o.command = fs.String("command", "echo rank $AGORA_TASK_ID; sleep 2", "shell command of each task")
	o.res = fs.String("resources", "cpus:0.1;mem:32", "resources of each task")
	o.wait = fs.Duration("timeout", 20*time.Second, "give back held offers if the gang is not complete by then")
	// The program's own flags get GANG_* variables; TLS and logging read
	// their AGORA_* ones, shared with the agora binary.
	if err := envflags.Bind(fs, envPrefix); err != nil {
		return nil, err
	}
	o.tls = security.FromEnv() // agora dev's certificates unless told otherwise
	o.tls.RegisterFlags(fs)
	o.log = logging.FromEnv()
	o.log.RegisterFlags(fs)
	return o, nil
}

func main() {
	o, err := newFlags(flag.CommandLine)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gang:", err)
		os.Exit(2)
	}
	flag.Parse()
	log, err := o.log.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gang:", err)
		os.Exit(2)
	}
	rs, err := messages.ParseResources(*o.res)
	if err != nil {
		log.Error("bad --resources", "err", err)
		os.Exit(2)
	}
	src, err := o.tls.Load(security.RoleFramework, log)
	if err != nil {
		log.Error("cannot load the framework's certificate", "err", err)
		os.Exit(2)
	}
	node, err := remoting.Start(remoting.Config{Bind: *o.listen, Logger: log, TLS: src, Insecure: src == nil})
	if err != nil {
		log.Error("cannot listen", "err", err)
		os.Exit(1)
	}
	defer node.Stop()
	g := NewGang(*o.size, rs, *o.command, *o.wait)
	node.System.Root.Spawn(scheduler.Props(scheduler.Config{
		Master: actor.NewPID(*o.masterAddr, master.Name),
		Info:   &messages.FrameworkInfo{Name: "gang", Roles: []string{"hpc"}},
		Logger: log,
	}, g))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-g.Finished:
		log.Info("all tasks ran together and ended", "size", *o.size)
	case <-sig:
		log.Info("interrupted")
	}
}
