package agent

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Custom executors in Docker containers, as Mesos' Docker containerizer
// runs an executor whose ExecutorInfo.container is DOCKER: the executor's
// command runs in a container of its image (Config.Docker), labelled with
// the executor's container ID, its sandbox bind-mounted at
// /mnt/mesos/sandbox (MESOS_SANDBOX; MESOS_DIRECTORY stays the sandbox's
// path on the host, as in Mesos), with the environment a process executor
// gets. Its container is limited to the executor's resources and its live
// tasks' (Docker's cpu and memory limits, resized as tasks come and go),
// and is removed when the executor exits or is killed; its exit is
// reported as a process executor's is.
//
// The executor must reach its agent: unless its ContainerInfo names a
// network, it runs on the host's (as Mesos' DockerInfo defaults to HOST).
// On a bridge or user-defined network it reaches the agent only at a
// routable address: the agent's --agent-http (a Mesos executor's
// MESOS_AGENT_ENDPOINT) or --listen (an Agora executor's
// AGORA_AGENT_ADDRESS) must not be a loopback or unspecified (0.0.0.0)
// one, which the launch refuses, saying so; an Agora executor must also listen on, and
// advertise, an address of its container that the agent can reach, and
// find its framework's certificate inside the container (fetch it into the
// sandbox). "none" is refused: nothing could reach the agent.
//
// A restarted agent finds an executor's container again by its label (the engine is asked off the actor, and the agent
// registers once it answered), follows it, and asks the executor to
// re-register, as it does for a process executor.

// executorRuntime is what runs an executor: the Docker containerizer and
// the container to run it in for an ExecutorInfo whose container is
// DOCKER, the agent's own containerizer (a process) otherwise.
func (a *agent) executorRuntime(info *messages.ExecutorInfo) (containerizer.Containerizer, *messages.ContainerInfo, error) {
	if !inDocker(info) {
		return a.cfg.Containerizer, nil, nil
	}
	if a.cfg.Docker == nil {
		return nil, nil, errors.New("this agent has no Docker engine: run executors in Docker containers on agents that do")
	}
	agentAddr := a.self.GetAddress() // where an Agora executor registers
	if info.GetMesos() {
		agentAddr = a.info.GetHttpAddress() // MESOS_AGENT_ENDPOINT
	}
	c, err := executorContainer(info.GetContainer(), agentAddr)
	if err != nil {
		return nil, nil, err
	}
	return a.cfg.Docker, c, nil
}

// inDocker reports whether an executor is to run in a Docker container.
func inDocker(info *messages.ExecutorInfo) bool {
	return info.GetContainer().GetType() == messages.ContainerInfo_DOCKER
}

// dockerCheckpoint reports whether an executor checkpoint is of one in a
// Docker container, which names no process: an agent from before
// executors ran in Docker ran every executor as a process (and recorded
// it), whatever its ContainerInfo said.
func dockerCheckpoint(cp *messages.ExecutorCheckpoint) bool {
	return inDocker(cp.GetInfo()) && cp.GetPid() == 0
}

// executorContainer is the Docker container an executor runs in: its
// ContainerInfo, on the host network unless that names another, or why
// the executor could not reach its agent (at agentAddr) from there.
func executorContainer(c *messages.ContainerInfo, agentAddr string) (*messages.ContainerInfo, error) {
	if c.GetDocker().GetImage() == "" {
		return nil, errors.New("the executor's DOCKER container names no image: give ContainerInfo.docker.image")
	}
	out := proto.Clone(c).(*messages.ContainerInfo)
	switch n := out.Docker.Network; {
	case n == "":
		out.Docker.Network = "host"
	case n == "host":
	case n == "none":
		return nil, errors.New("an executor on Docker network none could not reach its agent: leave the network unset (the host's) or name a bridge")
	case localOnly(agentAddr):
		return nil, fmt.Errorf("an executor on Docker network %q cannot reach its agent at %s, which only the host can dial: "+
			"give the agent a routable address (--agent-http for a Mesos executor, --listen for an Agora one), or leave the network unset (the host's)", n, agentAddr)
	}
	return out, nil
}

// localOnly reports whether addr (host:port) is one only the host itself
// can dial: a loopback address, or an unspecified one (0.0.0.0, ::),
// which in a container with a network of its own is the container.
func localOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// executorPorts are the host ports among an executor's own resources, for
// its container's port mappings.
func executorPorts(info *messages.ExecutorInfo) []*messages.Range {
	var out []*messages.Range
	for _, r := range info.GetResources() {
		if r.Name == "ports" {
			out = append(out, r.Ranges...)
		}
	}
	return out
}

// executorReattached reports the engine's answer for a recovered
// executor's container: found and followed again, or not.
type executorReattached struct {
	run       *executorRun
	container containerizer.Container
	err       error
}

// reattachExecutor looks for a recovered Docker executor's container off
// the actor; the agent registers once the engine answered.
func (a *agent) reattachExecutor(ex *executorRun) {
	r, ok := a.cfg.Docker.(containerizer.Reattacher)
	sandbox, _ := a.executorSandbox(ex.key)
	a.recovering++
	sys, self, id := a.sys, a.self, executorContainerID(ex.key)
	a.bg.run(func(ctx context.Context) {
		msg := executorReattached{run: ex, err: errors.New("this agent has no Docker engine to find it in")}
		if ok {
			msg.container, msg.err = r.Reattach(ctx, id, sandbox)
		}
		if ctx.Err() == nil {
			sys.Root.Send(self, msg)
		}
	})
}

// handleExecutorReattached follows a recovered Docker executor's container
// again and asks the executor to re-register, or ends the executor (its
// tasks fail) when its container is gone.
func (a *agent) handleExecutorReattached(ctx actor.Context, msg executorReattached) {
	defer a.recovered(ctx)
	ex := msg.run
	if a.executors[ex.key] != ex {
		if msg.container != nil {
			msg.container.Kill(0) // ended meanwhile (its framework shut it down)
		}
		return
	}
	if msg.err != nil {
		a.endExecutor(ctx, ex, messages.TaskStatusReason_REASON_AGENT_RESTARTED,
			"the agent restarted and could not find its executor's Docker container again: "+msg.err.Error())
		return
	}
	ex.container = msg.container
	a.log.Info("re-attached to an executor's Docker container", "framework_id", ex.key.framework, "executor_id", ex.key.executor)
	// The engine removes the container when it ends: nothing to clean.
	a.reconnectExecutor(ctx, ex, func(context.Context) {})
	a.resizeExecutor(ex) // to the tasks the restarted agent knows
}
