package mesosapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/agora-sched/agora/messages"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/asynkron/protoactor-go/actor"
)

// frameworkUpdate asks a bridge to change its framework's FrameworkInfo
// (Mesos 1.9's UPDATE_FRAMEWORK); answer gets nil once the master has
// taken it, or why not.
type frameworkUpdate struct {
	fw         framework
	suppressed []string
	answer     chan error
}

// updateFramework answers UPDATE_FRAMEWORK as Mesos does: 200 once the
// master holds the new FrameworkInfo, 400 for a change it refuses. The
// call goes through the bridge, which keeps the capabilities that shape
// the framework's events, and re-subscribes the framework on its own
// connection: the master replaces the FrameworkInfo and keeps its offers.
func (s *Server) updateFramework(w http.ResponseWriter, r *http.Request, st *stream, call *sched.Call) {
	u := call.GetUpdateFramework()
	if u.GetFrameworkInfo() == nil {
		http.Error(w, "Expecting 'update_framework.framework_info' to be present", http.StatusBadRequest)
		return
	}
	if id := u.GetFrameworkInfo().GetId().GetValue(); id != call.GetFrameworkId().GetValue() {
		http.Error(w, fmt.Sprintf("'update_framework.framework_info.id' (%q) differs from 'framework_id' (%q)", id, call.GetFrameworkId().GetValue()), http.StatusBadRequest)
		return
	}
	fw, err := frameworkIn(u.GetFrameworkInfo())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer := make(chan error, 1)
	s.cfg.System.Root.Send(st.bridge, &frameworkUpdate{fw: fw, suppressed: u.GetSuppressedRoles(), answer: answer})
	timeout := s.cfg.Clock.NewTimer(s.cfg.SubscribeTimeout)
	defer timeout.Stop()
	select {
	case err = <-answer:
	case <-st.done:
		err = errUpdateUnanswered
	case <-timeout.Chan():
		err = errUpdateUnanswered
	case <-r.Context().Done():
		return
	}
	switch {
	case errors.Is(err, errUpdateUnanswered):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case err != nil:
		s.cfg.Logger.Warn("Mesos UPDATE_FRAMEWORK refused", "framework_id", call.GetFrameworkId().GetValue(), "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

var errUpdateUnanswered = errors.New("the master did not take the framework's update (it stepped down, or the stream closed); subscribe again")

// checkFrameworkUpdate says which change of a framework's FrameworkInfo
// Agora refuses: its roles (Mesos 1.9 may change them; Agora's allocator
// keeps a framework's roles for its life), its principal, user and
// checkpointing (Mesos refuses those too), and the capabilities the
// allocator took when the framework was added.
func checkFrameworkUpdate(old, upd framework) error {
	switch {
	case !sameSet(old.info.GetRoles(), upd.info.GetRoles()):
		return fmt.Errorf("%w: UPDATE_FRAMEWORK changing the roles (from %v to %v); subscribe a new framework for other roles", ErrUnsupported, old.info.GetRoles(), upd.info.GetRoles())
	case old.multiRole != upd.multiRole:
		return fmt.Errorf("%w: UPDATE_FRAMEWORK adding or removing the MULTI_ROLE capability", ErrUnsupported)
	case old.info.GetPrincipal() != upd.info.GetPrincipal():
		return fmt.Errorf("%w: UPDATE_FRAMEWORK cannot change the principal (from %q to %q)", ErrInvalid, old.info.GetPrincipal(), upd.info.GetPrincipal())
	case old.info.GetUser() != upd.info.GetUser():
		return fmt.Errorf("%w: UPDATE_FRAMEWORK changing the user (from %q to %q)", ErrUnsupported, old.info.GetUser(), upd.info.GetUser())
	case messages.Checkpointing(old.info) != messages.Checkpointing(upd.info):
		return fmt.Errorf("%w: UPDATE_FRAMEWORK changing checkpoint", ErrUnsupported)
	case !sameSet(capabilityNames(old.info), capabilityNames(upd.info)):
		return fmt.Errorf("%w: UPDATE_FRAMEWORK changing the REVOCABLE_RESOURCES, PARTITION_AWARE or SHARED_RESOURCES capability", ErrUnsupported)
	}
	return nil
}

func capabilityNames(info *messages.FrameworkInfo) []string {
	out := make([]string, len(info.GetCapabilities()))
	for i, c := range info.GetCapabilities() {
		out[i] = c.String()
	}
	return out
}

// sameSet: a and b hold the same strings, in any order (Mesos compares
// roles as a set).
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// handleFrameworkUpdate (in the bridge) applies UPDATE_FRAMEWORK: the bridge takes
// the new capabilities and failover_timeout, re-subscribes with the new
// FrameworkInfo (its answer completes the call), and sets the suppressed
// roles as Mesos does: the roles listed are suppressed, the framework's
// others revived.
func (b *bridge) handleFrameworkUpdate(ctx actor.Context, m *frameworkUpdate) {
	if b.updating != nil {
		m.answer <- fmt.Errorf("%w: another UPDATE_FRAMEWORK of this framework is in progress; retry once it is answered", ErrInvalid)
		return
	}
	if err := checkFrameworkUpdate(b.fw, m.fw); err != nil {
		m.answer <- err
		return
	}
	for _, r := range m.suppressed {
		if !slices.Contains(m.fw.info.GetRoles(), r) {
			m.answer <- fmt.Errorf("%w: suppressed role %q is not one of the framework's roles %v", ErrInvalid, r, m.fw.info.GetRoles())
			return
		}
	}
	m.fw.info.Id = b.fw.info.Id
	b.fw = m.fw
	b.updating = m.answer
	b.toMaster(ctx, &messages.SubscribeFramework{Info: b.fw.info, Pid: ctx.Self(), Session: b.st.id})
	var revived []string
	for _, r := range b.fw.info.GetRoles() {
		if !slices.Contains(m.suppressed, r) {
			revived = append(revived, r)
		}
	}
	if len(m.suppressed) > 0 {
		b.toMaster(ctx, &messages.Suppress{FrameworkId: b.fw.info.Id, Roles: m.suppressed})
	}
	if len(revived) > 0 {
		b.toMaster(ctx, &messages.Revive{FrameworkId: b.fw.info.Id, Roles: revived})
	}
	b.log.Info("Mesos framework updated its FrameworkInfo", "suppressed_roles", m.suppressed, "remove_on_disconnect", b.fw.removeOnDisconnect)
}

// updateAnswered completes an UPDATE_FRAMEWORK in progress, if any.
func (b *bridge) updateAnswered(err error) {
	if b.updating != nil {
		b.updating <- err
		b.updating = nil
	}
}
