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
	if h := t.HealthCheck; h != nil {
		if out.HealthCheck, err = healthCheckIn(h); err != nil {
			return nil, fmt.Errorf("task %s: %w", id, err)
		}
	}
	if c := t.Check; c != nil {
		if out.Check, err = checkIn(c); err != nil {
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

// healthCheckIn is a Mesos HealthCheck as Agora's agent runs it: the same
// fields and defaults (unset times stay unset and take Mesos' defaults).
// IPv6 probes and HTTP statuses (which Mesos' own executors ignore too)
// are not taken.
func healthCheckIn(h *mesos.HealthCheck) (*messages.HealthCheck, error) {
	out := &messages.HealthCheck{DelaySeconds: h.DelaySeconds, IntervalSeconds: h.IntervalSeconds, TimeoutSeconds: h.TimeoutSeconds,
		ConsecutiveFailures: h.ConsecutiveFailures, GracePeriodSeconds: h.GracePeriodSeconds}
	ipv6 := mesos.NetworkInfo_IPv6
	switch h.GetType() {
	case mesos.HealthCheck_COMMAND:
		if h.Command == nil {
			return nil, fmt.Errorf("%w: a COMMAND health check without a command", ErrInvalid)
		}
		cmd, err := commandIn(h.Command)
		if err != nil {
			return nil, fmt.Errorf("health check: %w", err)
		}
		out.Type, out.Command = messages.HealthCheck_COMMAND, cmd
	case mesos.HealthCheck_HTTP:
		if h.Http == nil {
			return nil, fmt.Errorf("%w: an HTTP health check without http", ErrInvalid)
		}
		if h.Http.GetProtocol() == ipv6 {
			return nil, fmt.Errorf("%w: IPv6 health checks", ErrUnsupported)
		}
		out.Type, out.Http = messages.HealthCheck_HTTP, &messages.HealthCheck_HTTPCheckInfo{Port: h.Http.GetPort(), Path: h.Http.GetPath(), Scheme: h.Http.GetScheme()}
	case mesos.HealthCheck_TCP:
		if h.Tcp == nil {
			return nil, fmt.Errorf("%w: a TCP health check without tcp", ErrInvalid)
		}
		if h.Tcp.GetProtocol() == ipv6 {
			return nil, fmt.Errorf("%w: IPv6 health checks", ErrUnsupported)
		}
		out.Type, out.Tcp = messages.HealthCheck_TCP, &messages.HealthCheck_TCPCheckInfo{Port: h.Tcp.GetPort()}
	default:
		return nil, fmt.Errorf("%w: health check type %s: give COMMAND, HTTP or TCP", ErrInvalid, h.GetType())
	}
	if err := messages.ValidateHealthCheck(out); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return out, nil
}

// checkIn is a Mesos CheckInfo as Agora's agent runs it.
func checkIn(c *mesos.CheckInfo) (*messages.CheckInfo, error) {
	out := &messages.CheckInfo{DelaySeconds: c.DelaySeconds, IntervalSeconds: c.IntervalSeconds, TimeoutSeconds: c.TimeoutSeconds}
	switch c.GetType() {
	case mesos.CheckInfo_COMMAND:
		if c.GetCommand().GetCommand() == nil {
			return nil, fmt.Errorf("%w: a COMMAND check without a command", ErrInvalid)
		}
		cmd, err := commandIn(c.Command.Command)
		if err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		out.Type, out.Command = messages.HealthCheck_COMMAND, cmd
	case mesos.CheckInfo_HTTP:
		if c.Http == nil {
			return nil, fmt.Errorf("%w: an HTTP check without http", ErrInvalid)
		}
		out.Type, out.Http = messages.HealthCheck_HTTP, &messages.HealthCheck_HTTPCheckInfo{Port: c.Http.GetPort(), Path: c.Http.GetPath()}
	case mesos.CheckInfo_TCP:
		if c.Tcp == nil {
			return nil, fmt.Errorf("%w: a TCP check without tcp", ErrInvalid)
		}
		out.Type, out.Tcp = messages.HealthCheck_TCP, &messages.HealthCheck_TCPCheckInfo{Port: c.Tcp.GetPort()}
	default:
		return nil, fmt.Errorf("%w: check type %s: give COMMAND, HTTP or TCP", ErrInvalid, c.GetType())
	}
	if err := messages.ValidateCheck(out); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return out, nil
}

// checkStatusOut is a check's result as Mesos reports it.
func checkStatusOut(st *messages.CheckStatusInfo) *mesos.CheckStatusInfo {
	out := &mesos.CheckStatusInfo{Type: mesos.CheckInfo_Type(st.Type).Enum()}
	switch st.Type {
	case messages.HealthCheck_COMMAND:
		out.Command = &mesos.CheckStatusInfo_Command{ExitCode: st.CommandExitCode}
	case messages.HealthCheck_HTTP:
		out.Http = &mesos.CheckStatusInfo_Http{StatusCode: st.HttpStatusCode}
	case messages.HealthCheck_TCP:
		out.Tcp = &mesos.CheckStatusInfo_Tcp{Succeeded: st.TcpSucceeded}
	}
	return out
}

// commandIn: Mesos runs value with `sh -c` unless shell is false (its
// default is true), then value is the program and arguments its argv.
func commandIn(c *mesos.CommandInfo) (*messages.CommandInfo, error) {
	out := &messages.CommandInfo{Value: c.GetValue(), Shell: c.Shell == nil || c.GetShell(), User: c.GetUser()}
	for _, u := range c.Uris {
		// Mesos unpacks archives unless told not to (extract defaults to
		// true).
		out.Uris = append(out.Uris, &messages.CommandInfo_URI{Value: u.GetValue(), Executable: u.GetExecutable(),
			Extract: u.Extract == nil || u.GetExtract(), OutputFile: u.GetOutputFile(), Cache: u.GetCache()})
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
	case len(c.Volumes) > 0 && c.GetType() != mesos.ContainerInfo_DOCKER:
		return nil, fmt.Errorf("%w: volumes of a %s container (Docker containers take host_path volumes)", ErrUnsupported, c.GetType())
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
	switch {
	case d.GetImage() == "":
		return nil, fmt.Errorf("%w: a DOCKER container without an image", ErrInvalid)
	case d.GetPrivileged():
		return nil, fmt.Errorf("%w: privileged Docker containers", ErrUnsupported)
	case len(d.Parameters) > 0:
		return nil, fmt.Errorf("%w: Docker parameters (docker run options)", ErrUnsupported)
	case d.GetVolumeDriver() != "":
		return nil, fmt.Errorf("%w: Docker volume drivers", ErrUnsupported)
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
		// As Mesos' Docker containerizer: the one network_infos' name.
		switch ns := c.GetNetworkInfos(); {
		case len(ns) != 1:
			return nil, fmt.Errorf("%w: a USER Docker network needs exactly one network_infos (with its name), not %d", ErrInvalid, len(ns))
		case ns[0].GetName() == "":
			return nil, fmt.Errorf("%w: a USER Docker network without a name in network_infos", ErrInvalid)
		default:
			out.Docker.Network = ns[0].GetName()
		}
	}
	for _, p := range d.PortMappings {
		out.Docker.PortMappings = append(out.Docker.PortMappings, &messages.ContainerInfo_PortMapping{HostPort: p.GetHostPort(), ContainerPort: p.GetContainerPort(), Protocol: p.GetProtocol()})
	}
	for _, v := range c.Volumes {
		vol, err := volumeIn(v)
		if err != nil {
			return nil, err
		}
		out.Volumes = append(out.Volumes, vol)
	}
	return out, nil
}

// volumeIn is a Mesos volume of a Docker container as Agora mounts it: a
// host path (host_path, or a HOST_PATH source) bind-mounted at
// container_path. Docker named volumes, images, secrets and CSI volumes
// are not supported.
func volumeIn(v *mesos.Volume) (*messages.ContainerInfo_Volume, error) {
	out := &messages.ContainerInfo_Volume{ContainerPath: v.GetContainerPath(), HostPath: v.GetHostPath()}
	if v.GetMode() == mesos.Volume_RO {
		out.Mode = messages.ContainerInfo_Volume_RO
	}
	switch src := v.GetSource(); {
	case v.Image != nil:
		return nil, fmt.Errorf("%w: image volumes (at %s)", ErrUnsupported, out.ContainerPath)
	case src == nil:
	case src.GetType() == mesos.Volume_Source_HOST_PATH && out.HostPath == "":
		out.HostPath = src.GetHostPath().GetPath()
	default:
		return nil, fmt.Errorf("%w: %s volumes (at %s): use host_path", ErrUnsupported, src.GetType(), out.ContainerPath)
	}
	if out.HostPath == "" || out.ContainerPath == "" {
		return nil, fmt.Errorf("%w: a volume needs a host_path and a container_path (got %q, %q)", ErrInvalid, out.HostPath, out.ContainerPath)
	}
	return out, nil
}

// statusOut is an Agora task status as Mesos reports it. States and
// reasons have the same names in both; a reason Mesos has no name for is
// left out and written into the message.
func statusOut(s *messages.TaskStatus) *mesos.TaskStatus {
	m := statusMapped(s)
	out := &mesos.TaskStatus{
		TaskId: &mesos.TaskID{Value: proto.String(s.GetTaskId().GetValue())},
		State:  m.state.Enum(),
		Reason: m.reason,
		Source: m.source,
	}
	if m.message != "" {
		out.Message = proto.String(m.message)
	}
	if a := s.GetAgentId().GetValue(); a != "" {
		out.AgentId = &mesos.AgentID{Value: proto.String(a)}
	}
	if e := s.GetExecutorId().GetValue(); e != "" {
		out.ExecutorId = &mesos.ExecutorID{Value: proto.String(e)}
	}
	if s.TimestampUnixNano != 0 {
		out.Timestamp = proto.Float64(statusTimestamp(s))
	}
	if len(s.Uuid) > 0 {
		out.Uuid = s.Uuid
	}
	if s.Healthy != nil {
		out.Healthy = proto.Bool(*s.Healthy)
	}
	if s.CheckStatus != nil {
		out.CheckStatus = checkStatusOut(s.CheckStatus)
	}
	return out
}

// mappedStatus is what of a Mesos TaskStatus is not copied field by field
// from Agora's.
type mappedStatus struct {
	state   mesos.TaskState
	reason  *mesos.TaskStatus_Reason
	source  *mesos.TaskStatus_Source
	message string
}

func statusMapped(s *messages.TaskStatus) mappedStatus {
	out := mappedStatus{state: mesos.TaskState_TASK_UNKNOWN, message: s.Message}
	if state, ok := mesos.TaskState_value[s.State.String()]; ok {
		out.state = mesos.TaskState(state)
	}
	if s.Reason == messages.TaskStatusReason_REASON_FETCHER_FAILED {
		// Mesos has no reason of its own for a failed fetch: its agent
		// fails the launch, and frameworks (Marathon) look for its words.
		out.reason = mesos.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED.Enum()
		out.message = "Failed to launch container: Failed to fetch all URIs for container: " + out.message
	} else if s.Reason != messages.TaskStatusReason_REASON_UNSPECIFIED {
		if r, ok := mesos.TaskStatus_Reason_value[s.Reason.String()]; ok {
			out.reason = mesos.TaskStatus_Reason(r).Enum()
		} else if out.message == "" {
			out.message = s.Reason.String()
		} else {
			out.message = s.Reason.String() + ": " + out.message
		}
	}
	switch s.Reason {
	case messages.TaskStatusReason_REASON_RECONCILIATION, messages.TaskStatusReason_REASON_AGENT_DISCONNECTED:
		out.source = mesos.TaskStatus_SOURCE_MASTER.Enum() // the master's own word, as in Mesos
	}
	return out
}

func statusTimestamp(s *messages.TaskStatus) float64 {
	return float64(s.TimestampUnixNano) / float64(time.Second)
}

// groupIn is a Mesos LAUNCH_GROUP as Agora's master takes it. The DEFAULT
// executor (Mesos' own, for pods) is the agent's default executor: no
// command, its resources kept (an executor's resources are the group's to
// account); its container, when given, must be a MESOS one (a process on
// the agent). A CUSTOM executor is a Mesos custom executor (LAUNCH_GROUP
// event), whose tasks need no command of their own.
func groupIn(g *mesos.Offer_Operation_LaunchGroup) (*messages.LaunchGroup, error) {
	e := g.GetExecutor()
	id := e.GetExecutorId().GetValue()
	if id == "" {
		return nil, fmt.Errorf("%w: LAUNCH_GROUP without an executor (with its executor_id)", ErrInvalid)
	}
	var ex *messages.ExecutorInfo
	if e.GetType() == mesos.ExecutorInfo_DEFAULT || (e.Type == nil && e.Command == nil) {
		if c := e.GetContainer(); c != nil && c.GetType() != mesos.ContainerInfo_MESOS {
			return nil, fmt.Errorf("%w: the DEFAULT executor %s in a %s container (give the tasks their containers)", ErrUnsupported, id, c.GetType())
		}
		rs, err := resourcesIn(e.Resources)
		if err != nil {
			return nil, fmt.Errorf("executor %s: %w", id, err)
		}
		ex = &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: id}, Resources: rs, Name: e.GetName()}
		if f := e.GetFrameworkId().GetValue(); f != "" {
			ex.FrameworkId = &messages.FrameworkID{Value: f}
		}
	} else {
		var err error
		if ex, err = executorIn(e); err != nil {
			return nil, err
		}
	}
	out := &messages.LaunchGroup{Executor: ex, TaskGroup: &messages.TaskGroupInfo{}}
	for _, t := range g.GetTaskGroup().GetTasks() {
		if t.Executor != nil {
			return nil, fmt.Errorf("%w: task %s of a task group names an executor: leave TaskInfo.executor unset, the group's executor runs it", ErrInvalid, t.GetTaskId().GetValue())
		}
		in := t
		if ex.Command != nil && t.Command == nil {
			// Mapped as a task of that executor, then given back to
			// the group (the master puts it in the executor).
			in = proto.Clone(t).(*mesos.TaskInfo)
			in.Executor = e
		}
		ti, err := taskIn(in)
		if err != nil {
			return nil, err
		}
		ti.Executor = nil
		out.TaskGroup.Tasks = append(out.TaskGroup.Tasks, ti)
	}
	return out, nil
}

// executorIn is a Mesos custom executor as Agora's agent starts it: a
// command (with its files), as a process or in a DOCKER container, and the
// flag that makes the agent give it Mesos' environment and serve it the v1
// executor API.
func executorIn(e *mesos.ExecutorInfo) (*messages.ExecutorInfo, error) {
	id := e.GetExecutorId().GetValue()
	switch {
	case id == "":
		return nil, fmt.Errorf("%w: an executor without an executor_id", ErrInvalid)
	case e.GetType() == mesos.ExecutorInfo_DEFAULT:
		return nil, fmt.Errorf("%w: executor %s: the DEFAULT executor (task groups)", ErrUnsupported, id)
	case e.Command == nil:
		return nil, fmt.Errorf("%w: executor %s has no command", ErrInvalid, id)
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
	if c := e.Container; c != nil {
		// DOCKER runs it in a container of its image (on the host's
		// network unless it names another, as Mesos' DockerInfo
		// defaults); MESOS without an image is a process on the agent.
		if out.Container, err = containerIn(c); err != nil {
			return nil, fmt.Errorf("executor %s: %w", id, err)
		}
	}
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
		out.Uris = append(out.Uris, &mesos.CommandInfo_URI{Value: proto.String(u.Value), Executable: proto.Bool(u.Executable), Extract: proto.Bool(u.Extract), Cache: proto.Bool(u.Cache)})
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
	out.Container = executorContainerOut(e.GetContainer())
	return out
}

// executorContainerOut is an executor's Docker container as Mesos describes it (nil
// for none, or a process).
func executorContainerOut(c *messages.ContainerInfo) *mesos.ContainerInfo {
	if c.GetType() != messages.ContainerInfo_DOCKER {
		return nil
	}
	d := c.GetDocker()
	out := &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum(),
		Docker: &mesos.ContainerInfo_DockerInfo{Image: proto.String(d.GetImage()), ForcePullImage: proto.Bool(d.GetForcePull())}}
	switch n := d.GetNetwork(); n {
	case "", "host":
		// An executor's container with no network named runs on the
		// host's, Mesos' default; so does what Mesos leaves unset.
		out.Docker.Network = mesos.ContainerInfo_DockerInfo_HOST.Enum()
	case "bridge":
		out.Docker.Network = mesos.ContainerInfo_DockerInfo_BRIDGE.Enum()
	case "none":
		out.Docker.Network = mesos.ContainerInfo_DockerInfo_NONE.Enum()
	default:
		out.Docker.Network = mesos.ContainerInfo_DockerInfo_USER.Enum()
		out.NetworkInfos = []*mesos.NetworkInfo{{Name: proto.String(n)}}
	}
	for _, p := range d.GetPortMappings() {
		out.Docker.PortMappings = append(out.Docker.PortMappings, &mesos.ContainerInfo_DockerInfo_PortMapping{
			HostPort: proto.Uint32(p.HostPort), ContainerPort: proto.Uint32(p.ContainerPort), Protocol: proto.String(p.Protocol)})
	}
	for _, v := range c.GetVolumes() {
		mode := mesos.Volume_RW
		if v.Mode == messages.ContainerInfo_Volume_RO {
			mode = mesos.Volume_RO
		}
		out.Volumes = append(out.Volumes, &mesos.Volume{ContainerPath: proto.String(v.ContainerPath), HostPath: proto.String(v.HostPath), Mode: mode.Enum()})
	}
	return out
}

// frameworkOut is an Agora FrameworkInfo as Mesos writes it.
func frameworkOut(f *messages.FrameworkInfo, id string) *mesos.FrameworkInfo {
	out := &mesos.FrameworkInfo{User: proto.String(f.GetUser()), Name: proto.String(f.GetName()), Id: &mesos.FrameworkID{Value: proto.String(id)},
		Checkpoint: proto.Bool(messages.Checkpointing(f)), Roles: f.GetRoles()}
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
	if s.Healthy != nil {
		out.Healthy = proto.Bool(*s.Healthy) // a Mesos executor checks its own tasks
	}
	return out, nil
}
