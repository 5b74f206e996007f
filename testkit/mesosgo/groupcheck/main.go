// Command groupcheck drives a master's Mesos v1 scheduler API with
// mesos-go's scheduler client (api/v1/lib/scheduler/calls and httpsched),
// as a framework written for Mesos launches a pod: it subscribes, and
// on its first offer accepts a LAUNCH_GROUP that cannot fit (a task asks
// for more cpus than offered) and checks that every task of it ends
// TASK_ERROR with REASON_TASK_GROUP_INVALID; on a later offer it launches a
// group of three Docker tasks in Mesos' DEFAULT executor:
//
//   - server listens on port 7777 of its loopback for "hello", then on 7778,
//     then sleeps: it only ends when killed (its nc reads its stdin from a
//     FIFO it holds open: busybox's nc may close the connection at once
//     when its stdin ends, before it passed the client's word on);
//   - client sends "hello" to 127.0.0.1:7777 (retrying while the server
//     starts) and exits 0: it can only reach the server's loopback if they
//     share a network namespace;
//   - failer connects to 127.0.0.1:7778 (open once the server heard the
//     client) and exits 3.
//
// It passes when client ends TASK_FINISHED, failer TASK_FAILED and server
// TASK_KILLED (the failed task took its group down), all on one agent and
// reported in the group's executor. Each update prints a line; it exits 0
// when all passed, 1 with what failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:5050/api/v1/scheduler", "the master's scheduler API")
	codec := flag.String("codec", "protobuf", "protobuf or json")
	image := flag.String("image", "busybox", "the Docker image of the group's tasks (with sh and nc)")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long the whole check may take")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *url, *codec, *image); err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("task group checks passed")
}

type check struct {
	caller calls.Caller
	fid    string
	image  string
	// phase 0: the refused group is to be launched; 1: awaiting its
	// errors; 2: the good group is to be launched; 3: awaiting its end.
	phase  int
	states map[string]*mesos.TaskStatus // each task's last status
}

func run(ctx context.Context, url, codecName, image string) error {
	mt := codecs.MediaTypeProtobuf
	if codecName == "json" {
		mt = codecs.MediaTypeJSON
	}
	c := &check{caller: httpsched.NewCaller(httpcli.New(httpcli.Endpoint(url), httpcli.Codec(codecs.ByMediaType[mt]))),
		image: image, states: map[string]*mesos.TaskStatus{}}
	stream, err := c.caller.Call(ctx, calls.Subscribe(&mesos.FrameworkInfo{User: "nobody", Name: "groupcheck"}))
	if err != nil {
		return fmt.Errorf("SUBSCRIBE: %w", err)
	}
	defer stream.Close()
	events := make(chan scheduler.Event, 64)
	errs := make(chan error, 1)
	go func() {
		for {
			var e scheduler.Event
			if err := stream.Decode(&e); err != nil {
				errs <- err
				return
			}
			events <- e
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done in time (phase %d, states %v)", c.phase, c.summary())
		case err := <-errs:
			return fmt.Errorf("the event stream ended: %w", err)
		case e := <-events:
			done, err := c.handle(ctx, e)
			if err != nil || done {
				return err
			}
		}
	}
}

func (c *check) call(ctx context.Context, call *scheduler.Call) error {
	return calls.CallNoData(ctx, c.caller, call.With(calls.Framework(c.fid)))
}

func (c *check) handle(ctx context.Context, e scheduler.Event) (bool, error) {
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		c.fid = e.GetSubscribed().GetFrameworkID().GetValue()
		fmt.Println("SUBSCRIBED", c.fid)
	case scheduler.Event_OFFERS:
		return false, c.offers(ctx, e.GetOffers().GetOffers())
	case scheduler.Event_UPDATE:
		st := e.GetUpdate().GetStatus()
		reason := "none" // GetReason would say REASON_COMMAND_EXECUTOR_FAILED, the enum's zero
		if st.Reason != nil {
			reason = st.Reason.String()
		}
		fmt.Printf("task=%s state=%s reason=%s agent=%s executor=%s message=%q\n", st.TaskID.Value, st.GetState(),
			reason, st.GetAgentID().GetValue(), st.GetExecutorID().GetValue(), st.GetMessage())
		if len(st.GetUUID()) > 0 {
			if err := c.call(ctx, calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.GetUUID())); err != nil {
				return false, fmt.Errorf("ACKNOWLEDGE: %w", err)
			}
		}
		c.states[st.TaskID.Value] = &st
		return c.progress()
	case scheduler.Event_ERROR:
		return false, fmt.Errorf("ERROR event: %s", e.GetError().GetMessage())
	}
	return false, nil
}

func (c *check) offers(ctx context.Context, offers []mesos.Offer) error {
	var ids []mesos.OfferID
	for _, o := range offers {
		ids = append(ids, o.ID)
	}
	if len(offers) == 0 {
		return nil
	}
	o := offers[0]
	executor := mesos.ExecutorInfo{Type: mesos.ExecutorInfo_DEFAULT, ExecutorID: mesos.ExecutorID{Value: "pod"},
		FrameworkID: &mesos.FrameworkID{Value: c.fid}, Resources: []mesos.Resource{resources.NewCPUs(0.1).Resource, resources.NewMemory(32).Resource}}
	var group []mesos.TaskInfo
	switch c.phase {
	case 0:
		group = []mesos.TaskInfo{c.task(o, "fits", 0.1, "true"), c.task(o, "too-big", 10000, "true")}
	case 2:
		group = []mesos.TaskInfo{
			c.task(o, "server", 0.1, `mkfifo "${MESOS_SANDBOX:-.}/hold" && exec 3<>"${MESOS_SANDBOX:-.}/hold"; nc -l -p 7777 <&3 | grep -q hello || exit 9; nc -l -p 7778 <&3 >/dev/null; exec sleep 600`),
			c.task(o, "client", 0.1, `for i in $(seq 100); do echo hello | nc 127.0.0.1 7777 && exit 0; sleep 0.2; done; exit 1`),
			c.task(o, "failer", 0.1, `for i in $(seq 100); do echo x | nc 127.0.0.1 7778 && exit 3; sleep 0.2; done; exit 1`),
		}
	default:
		return c.call(ctx, calls.Decline(ids...))
	}
	c.phase++
	fmt.Printf("LAUNCH_GROUP of %d tasks on %s\n", len(group), o.AgentID.GetValue())
	if err := c.call(ctx, calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(executor, group...)}.WithOffers(o.ID))); err != nil {
		return fmt.Errorf("ACCEPT with LAUNCH_GROUP: %w", err)
	}
	if len(ids) > 1 {
		return c.call(ctx, calls.Decline(ids[1:]...))
	}
	return nil
}

func (c *check) task(o mesos.Offer, id string, cpus float64, command string) mesos.TaskInfo {
	bridge := mesos.ContainerInfo_DockerInfo_BRIDGE
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
		Resources: []mesos.Resource{resources.NewCPUs(cpus).Resource, resources.NewMemory(16).Resource},
		Command:   &mesos.CommandInfo{Value: &command},
		Container: &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum(), Docker: &mesos.ContainerInfo_DockerInfo{Image: c.image, Network: &bridge}},
	}
}

func terminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE:
		return true
	}
	return false
}

// progress checks the statuses so far: the refused group's, then the good
// group's once all three ended.
func (c *check) progress() (bool, error) {
	ended := func(ids ...string) bool {
		for _, id := range ids {
			if st, ok := c.states[id]; !ok || !terminal(st.GetState()) {
				return false
			}
		}
		return true
	}
	switch {
	case c.phase == 1 && ended("fits", "too-big"):
		for _, id := range []string{"fits", "too-big"} {
			if st := c.states[id]; st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_GROUP_INVALID {
				return false, fmt.Errorf("task %s of the group that cannot fit ended %s %s, want TASK_ERROR REASON_TASK_GROUP_INVALID", id, st.GetState(), st.GetReason())
			}
		}
		fmt.Println("the group that cannot fit was refused whole")
		c.phase = 2
	case c.phase == 3 && ended("server", "client", "failer"):
		// The failer reaches the server's second port only once the
		// server heard the client's hello (over the shared loopback), and
		// fails with 3. The client may still be exiting then: it is
		// killed with the group, as right as its own TASK_FINISHED.
		want := map[string]mesos.TaskState{"server": mesos.TASK_KILLED, "client": mesos.TASK_FINISHED, "failer": mesos.TASK_FAILED}
		var errs []error
		agent := c.states["server"].GetAgentID().GetValue()
		if st := c.states["failer"]; !strings.Contains(st.GetMessage(), "code 3") {
			errs = append(errs, fmt.Errorf("task failer ended %q, want exit code 3 (it reached the server's second port)", st.GetMessage()))
		}
		for id, w := range want {
			st := c.states[id]
			if id == "client" && st.GetState() == mesos.TASK_KILLED {
				w = mesos.TASK_KILLED
			}
			if st.GetState() != w {
				errs = append(errs, fmt.Errorf("task %s ended %s (%q), want %s", id, st.GetState(), st.GetMessage(), w))
			}
			if st.GetAgentID().GetValue() != agent {
				errs = append(errs, fmt.Errorf("task %s ran on agent %s, server on %s", id, st.GetAgentID().GetValue(), agent))
			}
			if st.GetExecutorID().GetValue() != "pod" {
				errs = append(errs, fmt.Errorf("task %s reported in executor %q, want the group's (pod)", id, st.GetExecutorID().GetValue()))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

func (c *check) summary() map[string]string {
	out := map[string]string{}
	for id, st := range c.states {
		out[id] = st.GetState().String()
	}
	return out
}
