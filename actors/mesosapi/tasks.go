package mesosapi

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// taskIn is a Mesos TaskInfo as Agora launches it: a command (run by
// Agora's command executor), optionally in a Docker container.
func taskIn(t *mesos.TaskInfo) (*messages.TaskInfo, error) {
	id := t.GetTaskId().GetValue()
	switch {
	case id == "":
		return nil, fmt.Errorf("%w: a task without a task_id", ErrInvalid)
	case t.Executor != nil:
		return nil, fmt.Errorf("%w: task %s: custom executors (TaskInfo.executor); use a command task", ErrUnsupported, id)
	case t.Command == nil:
		return nil, fmt.Errorf("%w: task %s has no command", ErrInvalid, id)
	case t.HealthCheck != nil:
		return nil, fmt.Errorf("%w: task %s: health checks", ErrUnsupported, id)
	case t.Check != nil:
		return nil, fmt.Errorf("%w: task %s: checks", ErrUnsupported, id)
	}
	rs, err := resourcesIn(t.Resources)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	cmd, err := commandIn(t.Command)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	out := &messages.TaskInfo{Name: t.GetName(), TaskId: &messages.TaskID{Value: id}, Resources: rs, Command: cmd}
	if a := t.GetAgentId().GetValue(); a != "" {
		out.AgentId = &messages.AgentID{Value: a}
	}
	if c := t.Container; c != nil {
		if out.Container, err = containerIn(c); err != nil {
			return nil, fmt.Errorf("task %s: %w", id, err)
		}
	}
	if g := t.GetKillPolicy().GetGracePeriod(); g != nil {
		out.KillPolicy = &messages.KillPolicy{GracePeriodNanos: g.GetNanoseconds()}
	}
	if ls := t.GetLabels().GetLabels(); len(ls) > 0 {
		out.Labels = make(map[string]string, len(ls))
		for _, l := range ls {
			out.Labels[l.GetKey()] = l.GetValue()
		}
	}
	return out, nil
}

// commandIn: Mesos runs value with `sh -c` unless shell is false (its
// default is true), then value is the program and arguments its argv.
func commandIn(c *mesos.CommandInfo) (*messages.CommandInfo, error) {
	if len(c.Uris) > 0 {
		return nil, fmt.Errorf("%w: CommandInfo.uris (the fetcher)", ErrUnsupported)
	}
	out := &messages.CommandInfo{Value: c.GetValue(), Shell: c.Shell == nil || c.GetShell(), User: c.GetUser()}
	switch {
	case out.Value == "":
		return nil, fmt.Errorf("%w: a command without a value", ErrInvalid)
	case !out.Shell && len(c.Arguments) > 1:
		// Mesos' arguments are the whole argv, argv[0] first; Agora's
		// are what follows the program (which is argv[0]).
		out.Arguments = c.Arguments[1:]
	}
	if vs := c.GetEnvironment().GetVariables(); len(vs) > 0 {
		out.Environment = make(map[string]string, len(vs))
		for _, v := range vs {
			if v.GetType() == mesos.Environment_Variable_SECRET || v.Secret != nil {
				return nil, fmt.Errorf("%w: secret environment variable %s", ErrUnsupported, v.GetName())
			}
			out.Environment[v.GetName()] = v.GetValue()
		}
	}
	return out, nil
}

func containerIn(c *mesos.ContainerInfo) (*messages.ContainerInfo, error) {
	switch {
	case len(c.Volumes) > 0:
		return nil, fmt.Errorf("%w: container volumes", ErrUnsupported)
	case c.GetType() == mesos.ContainerInfo_MESOS && c.Mesos.GetImage() != nil:
		return nil, fmt.Errorf("%w: images in the Mesos containerizer; use a DOCKER container", ErrUnsupported)
	case c.GetType() == mesos.ContainerInfo_MESOS && c.TtyInfo != nil:
		return nil, fmt.Errorf("%w: a TTY (interactive tasks)", ErrUnsupported)
	case c.GetType() == mesos.ContainerInfo_MESOS:
		return nil, nil // a process on the agent: what a command task is
	case c.GetType() != mesos.ContainerInfo_DOCKER:
		return nil, fmt.Errorf("%w: container type %s", ErrUnsupported, c.GetType())
	}
	d := c.GetDocker()
	if d.GetImage() == "" {
		return nil, fmt.Errorf("%w: a DOCKER container without an image", ErrInvalid)
	}
	out := &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: d.GetImage(), ForcePull: d.GetForcePullImage()}}
	switch d.GetNetwork() {
	case mesos.ContainerInfo_DockerInfo_HOST:
		out.Docker.Network = "host"
	case mesos.ContainerInfo_DockerInfo_BRIDGE:
		out.Docker.Network = "bridge"
	case mesos.ContainerInfo_DockerInfo_NONE:
		out.Docker.Network = "none"
	case mesos.ContainerInfo_DockerInfo_USER:
		return nil, fmt.Errorf("%w: USER Docker networks", ErrUnsupported)
	}
	for _, p := range d.PortMappings {
		out.Docker.PortMappings = append(out.Docker.PortMappings, &messages.ContainerInfo_PortMapping{HostPort: p.GetHostPort(), ContainerPort: p.GetContainerPort(), Protocol: p.GetProtocol()})
	}
	return out, nil
}

// statusOut is an Agora task status as Mesos reports it. States and
// reasons have the same names in both; a reason Mesos has no name for is
// left out and written into the message.
func statusOut(s *messages.TaskStatus) *mesos.TaskStatus {
	state, ok := mesos.TaskState_value[s.State.String()]
	if !ok {
		state = int32(mesos.TaskState_TASK_UNKNOWN)
	}
	out := &mesos.TaskStatus{
		TaskId: &mesos.TaskID{Value: proto.String(s.GetTaskId().GetValue())},
		State:  mesos.TaskState(state).Enum(),
	}
	msg := s.Message
	if s.Reason != messages.TaskStatusReason_REASON_UNSPECIFIED {
		if r, ok := mesos.TaskStatus_Reason_value[s.Reason.String()]; ok {
			out.Reason = mesos.TaskStatus_Reason(r).Enum()
		} else if msg == "" {
			msg = s.Reason.String()
		} else {
			msg = s.Reason.String() + ": " + msg
		}
	}
	if s.Reason == messages.TaskStatusReason_REASON_RECONCILIATION {
		out.Source = mesos.TaskStatus_SOURCE_MASTER.Enum()
	}
	if msg != "" {
		out.Message = proto.String(msg)
	}
	if a := s.GetAgentId().GetValue(); a != "" {
		out.AgentId = &mesos.AgentID{Value: proto.String(a)}
	}
	if e := s.GetExecutorId().GetValue(); e != "" {
		out.ExecutorId = &mesos.ExecutorID{Value: proto.String(e)}
	}
	if s.TimestampUnixNano != 0 {
		out.Timestamp = proto.Float64(float64(s.TimestampUnixNano) / float64(time.Second))
	}
	if len(s.Uuid) > 0 {
		out.Uuid = s.Uuid
	}
	return out
}
