package mesosapi

import (
	"fmt"
	"maps"
	"slices"
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
	case t.Executor != nil && t.Command != nil:
		return nil, fmt.Errorf("%w: task %s has both a command and an executor", ErrInvalid, id)
	case t.Executor == nil && t.Command == nil:
		return nil, fmt.Errorf("%w: task %s has neither a command nor an executor", ErrInvalid, id)
	case t.HealthCheck != nil:
		return nil, fmt.Errorf("%w: task %s: health checks", ErrUnsupported, id)
	case t.Check != nil:
		return nil, fmt.Errorf("%w: task %s: checks", ErrUnsupported, id)
	}
	rs, err := resourcesIn(t.Resources)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	out := &messages.TaskInfo{Name: t.GetName(), TaskId: &messages.TaskID{Value: id}, Resources: rs}
	if t.Command != nil {
		if out.Command, err = commandIn(t.Command); err != nil {
			return nil, fmt.Errorf("task %s: %w", id, err)
		}
	} else if out.Executor, err = executorIn(t.Executor); err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
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
	out := &messages.CommandInfo{Value: c.GetValue(), Shell: c.Shell == nil || c.GetShell(), User: c.GetUser()}
	// cache is not read: Agora fetches every time, which cache=false asks
	// and cache=true allows.
	for _, u := range c.Uris {
		// Mesos unpacks archives unless told not to (extract defaults to
		// true).
		out.Uris = append(out.Uris, &messages.CommandInfo_URI{Value: u.GetValue(), Executable: u.GetExecutable(),
			Extract: u.Extract == nil || u.GetExtract(), OutputFile: u.GetOutputFile()})
	}
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

// executorIn is a Mesos custom executor as Agora's agent starts it: a
// command (with its files), and the flag that makes the agent give it
// Mesos' environment and serve it the v1 executor API.
func executorIn(e *mesos.ExecutorInfo) (*messages.ExecutorInfo, error) {
	id := e.GetExecutorId().GetValue()
	switch {
	case id == "":
		return nil, fmt.Errorf("%w: an executor without an executor_id", ErrInvalid)
	case e.GetType() == mesos.ExecutorInfo_DEFAULT:
		return nil, fmt.Errorf("%w: executor %s: the DEFAULT executor (task groups)", ErrUnsupported, id)
	case e.Command == nil:
		return nil, fmt.Errorf("%w: executor %s has no command", ErrInvalid, id)
	case e.Container != nil:
		return nil, fmt.Errorf("%w: executor %s in a container", ErrUnsupported, id)
	}
	cmd, err := commandIn(e.Command)
	if err != nil {
		return nil, fmt.Errorf("executor %s: %w", id, err)
	}
	rs, err := resourcesIn(e.Resources)
	if err != nil {
		return nil, fmt.Errorf("executor %s: %w", id, err)
	}
	out := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: id}, Command: cmd, Resources: rs, Name: e.GetName(), Mesos: true}
	if f := e.GetFrameworkId().GetValue(); f != "" {
		out.FrameworkId = &messages.FrameworkID{Value: f}
	}
	return out, nil
}

// commandOut is an Agora command as Mesos writes it.
func commandOut(c *messages.CommandInfo) *mesos.CommandInfo {
	if c == nil {
		return nil
	}
	out := &mesos.CommandInfo{Value: proto.String(c.Value), Shell: proto.Bool(c.Shell)}
	if c.User != "" {
		out.User = proto.String(c.User)
	}
	if !c.Shell {
		out.Arguments = append([]string{c.Value}, c.Arguments...)
	}
	for _, u := range c.Uris {
		out.Uris = append(out.Uris, &mesos.CommandInfo_URI{Value: proto.String(u.Value), Executable: proto.Bool(u.Executable), Extract: proto.Bool(u.Extract)})
	}
	if len(c.Environment) > 0 {
		out.Environment = &mesos.Environment{}
		for _, k := range slices.Sorted(maps.Keys(c.Environment)) {
			out.Environment.Variables = append(out.Environment.Variables, &mesos.Environment_Variable{Name: proto.String(k), Value: proto.String(c.Environment[k])})
		}
	}
	return out
}

// executorOut is an Agora executor as Mesos describes it to the executor.
func executorOut(e *messages.ExecutorInfo, key executorKey) *mesos.ExecutorInfo {
	out := &mesos.ExecutorInfo{Type: mesos.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesos.ExecutorID{Value: proto.String(key.executor)},
		FrameworkId: &mesos.FrameworkID{Value: proto.String(key.framework)}, Command: commandOut(e.GetCommand()),
		Resources: resourcesOut(e.GetResources(), "", false)}
	if e.GetName() != "" {
		out.Name = proto.String(e.Name)
	}
	return out
}

// frameworkOut is an Agora FrameworkInfo as Mesos writes it.
func frameworkOut(f *messages.FrameworkInfo, id string) *mesos.FrameworkInfo {
	out := &mesos.FrameworkInfo{User: proto.String(f.GetUser()), Name: proto.String(f.GetName()), Id: &mesos.FrameworkID{Value: proto.String(id)},
		Checkpoint: proto.Bool(f.GetCheckpoint()), Roles: f.GetRoles()}
	if f.GetHostname() != "" {
		out.Hostname = proto.String(f.Hostname)
	}
	if f.GetPrincipal() != "" {
		out.Principal = proto.String(f.Principal)
	}
	if f.GetFailoverTimeoutNanos() > 0 {
		out.FailoverTimeout = proto.Float64(time.Duration(f.FailoverTimeoutNanos).Seconds())
	}
	if len(out.Roles) > 0 {
		out.Capabilities = []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}
	}
	return out
}

// taskOut is an Agora task as Mesos gives it to an executor.
func taskOut(t *messages.TaskInfo) *mesos.TaskInfo {
	out := &mesos.TaskInfo{Name: proto.String(t.GetName()), TaskId: &mesos.TaskID{Value: proto.String(t.GetTaskId().GetValue())},
		AgentId: &mesos.AgentID{Value: proto.String(t.GetAgentId().GetValue())}, Resources: resourcesOut(t.GetResources(), "", false),
		Command: commandOut(t.GetCommand())}
	out.Labels = labelsOut(t.Labels)
	if g := t.GetKillPolicy(); g != nil {
		out.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(g.GracePeriodNanos)}}
	}
	return out
}

// statusIn is a Mesos executor's task status as Agora's agent takes it.
func statusIn(s *mesos.TaskStatus) (*messages.TaskStatus, error) {
	state, ok := messages.TaskState_value[s.GetState().String()]
	if !ok {
		return nil, fmt.Errorf("%w: task state %s", ErrUnsupported, s.GetState())
	}
	out := &messages.TaskStatus{TaskId: &messages.TaskID{Value: s.GetTaskId().GetValue()}, State: messages.TaskState(state),
		Message: s.GetMessage(), Uuid: s.Uuid}
	if s.Reason != nil {
		if r, ok := messages.TaskStatusReason_value[s.GetReason().String()]; ok {
			out.Reason = messages.TaskStatusReason(r)
		} else if out.Message == "" {
			out.Message = s.GetReason().String()
		} else {
			out.Message = s.GetReason().String() + ": " + out.Message
		}
	}
	if s.Timestamp != nil {
		out.TimestampUnixNano = int64(s.GetTimestamp() * float64(time.Second))
	}
	return out, nil
}
