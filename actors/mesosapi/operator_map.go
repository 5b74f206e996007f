package mesosapi

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"github.com/agora-sched/agora/messages/mesos/v1/quota"
	"google.golang.org/protobuf/proto"
)

// The operator API's mapping: Agora's published state as Mesos' master
// describes it (reads), and Mesos' operator calls as Agora's role and
// drain requests (writes). Plain functions of their inputs: the server
// calls them, the tests call them directly.

// timeOut is a Unix time in nanoseconds as Mesos' TimeInfo (nil for 0).
func timeOut(unixNano int64) *mesos.TimeInfo {
	if unixNano == 0 {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: proto.Int64(unixNano)}
}

// hostPort splits an address into its host and port (0 when there is
// none or it is not a number).
func hostPort(addr string) (string, int32) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	return host, int32(p)
}

// ipv4Out is an IPv4 address as Mesos' MasterInfo.ip holds it: the
// address's bytes in network order read as a little-endian integer (its
// in_addr on the machines Mesos runs on); 0 for anything else.
func ipv4Out(host string) uint32 {
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(ip)
}

// masterOut is GET_MASTER's answer.
func masterOut(st *messages.MasterState) *mmaster.Response_GetMaster {
	m := st.GetMaster()
	host, port := hostPort(m.GetHttpAddress())
	info := &mesos.MasterInfo{Id: proto.String(m.GetId()), Ip: proto.Uint32(ipv4Out(host)), Port: proto.Uint32(uint32(port)),
		Pid: proto.String("master@" + m.GetAddress()), Hostname: proto.String(host), Version: proto.String(m.GetVersion()),
		Address: &mesos.Address{Hostname: proto.String(host), Port: proto.Int32(port)}}
	if ipv4Out(host) != 0 || net.ParseIP(host) != nil {
		info.Address.Ip = proto.String(host)
	}
	out := &mmaster.Response_GetMaster{MasterInfo: info}
	if s := m.GetStartTimeUnixNano(); s != 0 {
		out.StartTime = proto.Float64(float64(s) / float64(time.Second))
	}
	return out
}

// attributeOut is an agent attribute as Mesos writes it: a scalar or a
// text.
func attributeOut(a *messages.Attribute) *mesos.Attribute {
	out := &mesos.Attribute{Name: proto.String(a.GetName())}
	if v, ok := a.GetValue().(*messages.Attribute_Scalar); ok {
		out.Type = mesos.Value_SCALAR.Enum()
		out.Scalar = &mesos.Value_Scalar{Value: proto.Float64(v.Scalar)}
		return out
	}
	out.Type = mesos.Value_TEXT.Enum()
	out.Text = &mesos.Value_Text{Value: proto.String(a.GetText())}
	return out
}

// agentInfoOut is an AgentInfo as Mesos writes it.
func agentInfoOut(info *messages.AgentInfo) *mesos.AgentInfo {
	out := &mesos.AgentInfo{Hostname: proto.String(info.GetHostname()), Resources: resourcesOut(info.GetResources(), "", false)}
	if id := info.GetId().GetValue(); id != "" {
		out.Id = &mesos.AgentID{Value: proto.String(id)}
	}
	if _, port := hostPort(info.GetHttpAddress()); port != 0 {
		out.Port = proto.Int32(port)
	}
	for _, a := range info.GetAttributes() {
		out.Attributes = append(out.Attributes, attributeOut(a))
	}
	return out
}

// agentOut is one agent of GET_AGENTS. A draining agent is deactivated
// (offered to nobody), as Mesos' draining agents are; its drain's
// max_grace_period is what is left until its deadline.
func agentOut(a *messages.AgentState, now int64) *mmaster.Response_GetAgents_Agent {
	out := &mmaster.Response_GetAgents_Agent{AgentInfo: agentInfoOut(a.GetInfo()), Active: proto.Bool(a.GetReachable() && a.GetDrain() == nil),
		Version: proto.String(a.GetInfo().GetVersion()), Pid: proto.String("agent@" + a.GetAddress()),
		RegisteredTime: timeOut(a.GetRegisteredUnixNano()), TotalResources: resourcesOut(a.GetInfo().GetResources(), "", false),
		AllocatedResources: resourcesOut(a.GetUsed(), "", false)}
	if d := a.GetDrain(); d != nil {
		out.Deactivated = proto.Bool(true)
		state := mesos.DrainState_DRAINING
		if d.GetState() == messages.DrainInfo_DRAINED {
			state = mesos.DrainState_DRAINED
		}
		left := max(0, d.GetDeadlineUnixNano()-now)
		out.DrainInfo = &mesos.DrainInfo{State: state.Enum(), Config: &mesos.DrainConfig{
			MaxGracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(left)}, MarkGone: proto.Bool(false)}}
	}
	return out
}

// agentsOut is GET_AGENTS' answer.
func agentsOut(st *messages.MasterState) *mmaster.Response_GetAgents {
	out := &mmaster.Response_GetAgents{}
	for _, a := range st.GetAgents() {
		out.Agents = append(out.Agents, agentOut(a, st.GetSnapshotUnixNano()))
	}
	return out
}

// frameworkStateOut is one framework of GET_FRAMEWORKS.
func frameworkStateOut(f *messages.FrameworkState) *mmaster.Response_GetFrameworks_Framework {
	return &mmaster.Response_GetFrameworks_Framework{FrameworkInfo: frameworkOut(f.GetInfo(), f.GetInfo().GetId().GetValue()),
		Active: proto.Bool(f.GetConnected() && !f.GetTearingDown()), Connected: proto.Bool(f.GetConnected()), Recovered: proto.Bool(false),
		AllocatedResources: resourcesOut(f.GetUsed(), "", false), OfferedResources: resourcesOut(f.GetOffered(), "", false)}
}

// frameworksOut is GET_FRAMEWORKS' answer. Agora forgets a framework once
// it is removed: completed_frameworks is empty.
func frameworksOut(st *messages.MasterState) *mmaster.Response_GetFrameworks {
	out := &mmaster.Response_GetFrameworks{}
	for _, f := range st.GetFrameworks() {
		out.Frameworks = append(out.Frameworks, frameworkStateOut(f))
	}
	return out
}

// taskStateOut is a task state by its Mesos name (the names are Mesos').
func taskStateOut(s messages.TaskState) mesos.TaskState {
	if v, ok := mesos.TaskState_value[s.String()]; ok {
		return mesos.TaskState(v)
	}
	return mesos.TaskState_TASK_UNKNOWN
}

// taskRecordOut is a task of the master's books as Mesos' Task.
func taskRecordOut(t *messages.Task) *mesos.Task {
	out := &mesos.Task{Name: proto.String(t.GetName()), TaskId: &mesos.TaskID{Value: proto.String(t.GetTaskId().GetValue())},
		FrameworkId: &mesos.FrameworkID{Value: proto.String(t.GetFrameworkId().GetValue())},
		AgentId:     &mesos.AgentID{Value: proto.String(t.GetAgentId().GetValue())}, State: taskStateOut(t.GetState()).Enum(),
		Resources: resourcesOut(t.GetResources(), t.GetRole(), false)}
	if e := t.GetExecutorId().GetValue(); e != "" {
		out.ExecutorId = &mesos.ExecutorID{Value: proto.String(e)}
	}
	if s := t.GetLatestStatus(); s != nil {
		out.Statuses = []*mesos.TaskStatus{statusOut(s)}
	}
	return out
}

// tasksOut is GET_TASKS' answer: live tasks, those on unreachable agents,
// and the recently finished ones the master remembers.
func tasksOut(tasks []*messages.Task) *mmaster.Response_GetTasks {
	out := &mmaster.Response_GetTasks{}
	for _, t := range tasks {
		switch m := taskRecordOut(t); {
		case t.GetState() == messages.TaskState_TASK_UNREACHABLE:
			out.UnreachableTasks = append(out.UnreachableTasks, m)
		case messages.IsTerminal(t.GetState()):
			out.CompletedTasks = append(out.CompletedTasks, m)
		default:
			out.Tasks = append(out.Tasks, m)
		}
	}
	return out
}

// executorsOut is GET_EXECUTORS' answer: the custom executors live tasks
// run in (the master keeps no ExecutorInfo: each is named by its ID).
// Tasks of Agora's command executor have none, as in Mesos.
func executorsOut(tasks []*messages.Task) *mmaster.Response_GetExecutors {
	type key struct{ framework, executor, agent string }
	seen := map[key]bool{}
	out := &mmaster.Response_GetExecutors{}
	for _, t := range tasks {
		k := key{t.GetFrameworkId().GetValue(), t.GetExecutorId().GetValue(), t.GetAgentId().GetValue()}
		if k.executor == "" || messages.IsTerminal(t.GetState()) || seen[k] {
			continue
		}
		seen[k] = true
		out.Executors = append(out.Executors, &mmaster.Response_GetExecutors_Executor{
			ExecutorInfo: &mesos.ExecutorInfo{Type: mesos.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesos.ExecutorID{Value: proto.String(k.executor)},
				FrameworkId: &mesos.FrameworkID{Value: proto.String(k.framework)}},
			AgentId: &mesos.AgentID{Value: proto.String(k.agent)}})
	}
	return out
}

// stateOut is GET_STATE's answer (and SUBSCRIBED's state).
func stateOut(st *messages.MasterState, tasks []*messages.Task) *mmaster.Response_GetState {
	return &mmaster.Response_GetState{GetTasks: tasksOut(tasks), GetExecutors: executorsOut(tasks),
		GetFrameworks: frameworksOut(st), GetAgents: agentsOut(st)}
}

// weightOf is a role's configured weight (1 when not set).
func weightOf(st *messages.MasterState, role string) float64 {
	for _, r := range st.GetRoles().GetRoles() {
		if r.GetRole() == role && r.GetWeight() > 0 {
			return r.GetWeight()
		}
	}
	return 1
}

// rolesOut is GET_ROLES' answer: every role with a configuration, a live
// task or a subscribed framework, by name.
func rolesOut(st *messages.MasterState) *mmaster.Response_GetRoles {
	frameworks := map[string][]*mesos.FrameworkID{}
	for _, f := range st.GetFrameworks() {
		for _, role := range f.GetInfo().GetRoles() {
			frameworks[role] = append(frameworks[role], &mesos.FrameworkID{Value: proto.String(f.GetInfo().GetId().GetValue())})
		}
	}
	roles := map[string]*mesos.Role{}
	for _, u := range st.GetRoleUsage() {
		roles[u.GetRole()] = &mesos.Role{Name: proto.String(u.GetRole()), Weight: proto.Float64(weightOf(st, u.GetRole())),
			Resources: resourcesOut(u.GetUsed(), "", false)}
	}
	for role := range frameworks {
		if roles[role] == nil {
			roles[role] = &mesos.Role{Name: proto.String(role), Weight: proto.Float64(weightOf(st, role))}
		}
	}
	out := &mmaster.Response_GetRoles{}
	for _, r := range roles {
		r.Frameworks = frameworks[r.GetName()]
		out.Roles = append(out.Roles, r)
	}
	slices.SortFunc(out.Roles, func(a, b *mesos.Role) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}

// weightsOut is GET_WEIGHTS' answer: the roles whose weight is set.
func weightsOut(st *messages.MasterState) *mmaster.Response_GetWeights {
	out := &mmaster.Response_GetWeights{}
	for _, r := range st.GetRoles().GetRoles() {
		if r.GetWeight() > 0 {
			out.WeightInfos = append(out.WeightInfos, &mesos.WeightInfo{Role: proto.String(r.GetRole()), Weight: proto.Float64(r.GetWeight())})
		}
	}
	return out
}

// scalarsOut is the scalar resources of rs as QuotaConfig's name-value
// map (quotas are of scalars only, in Mesos as in Agora).
func scalarsOut(rs []*messages.Resource) map[string]*mesos.Value_Scalar {
	out := map[string]*mesos.Value_Scalar{}
	for _, r := range rs {
		if len(r.GetRanges()) == 0 {
			out[r.GetName()] = &mesos.Value_Scalar{Value: proto.Float64(r.GetScalar())}
		}
	}
	return out
}

// quotaOut is GET_QUOTA's answer, in Mesos 1.9's configs (guarantees and
// limits) and in the older infos (guarantees only).
func quotaOut(st *messages.MasterState) *mmaster.Response_GetQuota {
	status := &quota.QuotaStatus{}
	for _, r := range st.GetRoles().GetRoles() {
		q := r.GetQuota()
		if q == nil || len(q.GetGuarantee()) == 0 && len(q.GetLimit()) == 0 {
			continue
		}
		status.Configs = append(status.Configs, &quota.QuotaConfig{Role: proto.String(r.GetRole()),
			Guarantees: scalarsOut(q.GetGuarantee()), Limits: scalarsOut(q.GetLimit())})
		status.Infos = append(status.Infos, &quota.QuotaInfo{Role: proto.String(r.GetRole()), Guarantee: resourcesOut(q.GetGuarantee(), "", false)})
	}
	return &mmaster.Response_GetQuota{Status: status}
}

// scalarsIn reads QuotaConfig's name-value map as Agora's resources.
func scalarsIn(role, what string, m map[string]*mesos.Value_Scalar) ([]*messages.Resource, error) {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]*messages.Resource, 0, len(m))
	for _, name := range names {
		v := m[name].GetValue()
		if name == "" || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("%w: quota of role %q: %s %q: %v: want a resource name and a finite amount, zero or more", ErrInvalid, role, what, name, v)
		}
		out = append(out, &messages.Resource{Name: name, Scalar: v})
	}
	if err := messages.ValidateResources(out); err != nil {
		return nil, fmt.Errorf("%w: quota of role %q: %s: %w", ErrInvalid, role, what, err)
	}
	return out, nil
}

// quotaConfigIn is one QuotaConfig of UPDATE_QUOTA as a role change: a
// config with neither guarantees nor limits removes the role's quota, as
// Mesos resets it to the default (no guarantee, no limit).
func quotaConfigIn(c *quota.QuotaConfig) (*messages.UpdateRole, error) {
	role := c.GetRole()
	if err := messages.ValidateRoleName(role); err != nil {
		return nil, fmt.Errorf("%w: quota config: %w", ErrInvalid, err)
	}
	if len(c.GetGuarantees()) == 0 && len(c.GetLimits()) == 0 {
		return &messages.UpdateRole{Role: role, ClearQuota: true}, nil
	}
	g, err := scalarsIn(role, "guarantee", c.GetGuarantees())
	if err != nil {
		return nil, err
	}
	l, err := scalarsIn(role, "limit", c.GetLimits())
	if err != nil {
		return nil, err
	}
	return &messages.UpdateRole{Role: role, Quota: &messages.RoleQuota{Guarantee: g, Limit: l}}, nil
}

// quotaRequestIn is the deprecated SET_QUOTA's request: its guarantee is
// the role's limit too, as Mesos 1.9 reads a legacy QuotaInfo.
func quotaRequestIn(q *quota.QuotaRequest) (*messages.UpdateRole, error) {
	role := q.GetRole()
	if err := messages.ValidateRoleName(role); err != nil {
		return nil, fmt.Errorf("%w: quota request: %w", ErrInvalid, err)
	}
	scalars := map[string]*mesos.Value_Scalar{}
	for _, r := range q.GetGuarantee() {
		if r.GetType() != mesos.Value_SCALAR || r.Scalar == nil {
			return nil, fmt.Errorf("%w: quota of role %q: %s: only scalar resources have a quota", ErrInvalid, role, r.GetName())
		}
		if r.GetRole() != "" && r.GetRole() != "*" || len(r.GetReservations()) > 0 {
			return nil, fmt.Errorf("%w: quota of role %q: %s: a quota is of unreserved resources", ErrInvalid, role, r.GetName())
		}
		if _, dup := scalars[r.GetName()]; dup {
			return nil, fmt.Errorf("%w: quota of role %q: %s given twice", ErrInvalid, role, r.GetName())
		}
		scalars[r.GetName()] = r.Scalar
	}
	if len(scalars) == 0 {
		return nil, fmt.Errorf("%w: quota of role %q: no guarantee (REMOVE_QUOTA removes one)", ErrInvalid, role)
	}
	rs, err := scalarsIn(role, "guarantee", scalars)
	if err != nil {
		return nil, err
	}
	return &messages.UpdateRole{Role: role, Quota: &messages.RoleQuota{Guarantee: rs, Limit: rs}}, nil
}

// maxOperatorChanges bounds the role changes one call makes (each is a
// write of the role configuration).
const maxOperatorChanges = 256

// roleChangesIn is the role changes of UPDATE_WEIGHTS, UPDATE_QUOTA,
// SET_QUOTA and REMOVE_QUOTA, all checked before any is made.
func roleChangesIn(c *mmaster.Call) ([]*messages.UpdateRole, error) {
	var out []*messages.UpdateRole
	switch c.GetType() {
	case mmaster.Call_UPDATE_WEIGHTS:
		infos := c.GetUpdateWeights().GetWeightInfos()
		if len(infos) == 0 {
			return nil, fmt.Errorf("%w: Expecting 'update_weights.weight_infos' to be present", ErrInvalid)
		}
		for _, w := range infos {
			if err := messages.ValidateRoleName(w.GetRole()); err != nil {
				return nil, fmt.Errorf("%w: weight: %w", ErrInvalid, err)
			}
			if v := w.GetWeight(); math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
				return nil, fmt.Errorf("%w: weight of role %q: %v: want a positive number", ErrInvalid, w.GetRole(), v)
			}
			out = append(out, &messages.UpdateRole{Role: w.GetRole(), Weight: proto.Float64(w.GetWeight())})
		}
	case mmaster.Call_UPDATE_QUOTA:
		configs := c.GetUpdateQuota().GetQuotaConfigs()
		if len(configs) == 0 {
			return nil, fmt.Errorf("%w: Expecting 'update_quota.quota_configs' to be present", ErrInvalid)
		}
		for _, q := range configs {
			u, err := quotaConfigIn(q)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
	case mmaster.Call_SET_QUOTA:
		if c.GetSetQuota().GetQuotaRequest() == nil {
			return nil, fmt.Errorf("%w: Expecting 'set_quota.quota_request' to be present", ErrInvalid)
		}
		u, err := quotaRequestIn(c.GetSetQuota().GetQuotaRequest())
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	case mmaster.Call_REMOVE_QUOTA:
		role := c.GetRemoveQuota().GetRole()
		if err := messages.ValidateRoleName(role); err != nil {
			return nil, fmt.Errorf("%w: remove quota: %w", ErrInvalid, err)
		}
		out = append(out, &messages.UpdateRole{Role: role, ClearQuota: true})
	default:
		return nil, fmt.Errorf("%w: %s changes no role", ErrInvalid, c.GetType())
	}
	if len(out) > maxOperatorChanges {
		return nil, fmt.Errorf("%w: %d roles in one call: at most %d", ErrInvalid, len(out), maxOperatorChanges)
	}
	seen := map[string]bool{}
	for _, u := range out {
		if seen[u.Role] {
			return nil, fmt.Errorf("%w: role %q given twice", ErrInvalid, u.Role)
		}
		seen[u.Role] = true
	}
	return out, nil
}

// agentCallIn is DRAIN_AGENT, DEACTIVATE_AGENT or REACTIVATE_AGENT as
// Agora's drain: DRAIN_AGENT's max_grace_period is the drain's deadline
// (none: the tasks are killed at once, as Mesos kills them with no grace
// beyond their own kill policy); DEACTIVATE_AGENT a drain over the longest
// window the master takes (Agora has no deactivation without a drain;
// Mesos' has no deadline: its tasks run until an operator reactivates the
// agent); REACTIVATE_AGENT ends either.
func agentCallIn(c *mmaster.Call) (proto.Message, error) {
	switch c.GetType() {
	case mmaster.Call_DRAIN_AGENT:
		d := c.GetDrainAgent()
		id := d.GetAgentId().GetValue()
		if id == "" {
			return nil, fmt.Errorf("%w: Expecting 'drain_agent.agent_id' to be present", ErrInvalid)
		}
		if d.GetMarkGone() {
			return nil, fmt.Errorf("%w: DRAIN_AGENT with mark_gone (Agora keeps a drained agent; it leaves when it stops)", ErrUnsupported)
		}
		var deadline time.Duration
		if g := d.GetMaxGracePeriod(); g != nil {
			if g.GetSeconds() < 0 || g.GetNanos() < 0 || g.GetSeconds() > int64(core.MaxDrainDeadline/time.Second) {
				return nil, fmt.Errorf("%w: drain_agent.max_grace_period %ds: want 0 to %v", ErrInvalid, g.GetSeconds(), core.MaxDrainDeadline)
			}
			deadline = time.Duration(g.GetSeconds())*time.Second + time.Duration(g.GetNanos())
		}
		return &messages.DrainAgent{AgentId: &messages.AgentID{Value: id}, DeadlineNanos: int64(deadline)}, nil
	case mmaster.Call_DEACTIVATE_AGENT:
		id := c.GetDeactivateAgent().GetAgentId().GetValue()
		if id == "" {
			return nil, fmt.Errorf("%w: Expecting 'deactivate_agent.agent_id' to be present", ErrInvalid)
		}
		return &messages.DrainAgent{AgentId: &messages.AgentID{Value: id}, DeadlineNanos: int64(core.MaxDrainDeadline)}, nil
	case mmaster.Call_REACTIVATE_AGENT:
		id := c.GetReactivateAgent().GetAgentId().GetValue()
		if id == "" {
			return nil, fmt.Errorf("%w: Expecting 'reactivate_agent.agent_id' to be present", ErrInvalid)
		}
		return &messages.ReactivateAgent{AgentId: &messages.AgentID{Value: id}}, nil
	}
	return nil, fmt.Errorf("%w: %s is no agent call", ErrInvalid, c.GetType())
}
