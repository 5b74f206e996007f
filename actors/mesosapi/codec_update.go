package mesosapi

import (
	"encoding/base64"
	"strconv"

	"github.com/agora-sched/agora/messages"
)

// appendUpdateJSON writes the UPDATE event of an Agora task status in
// Mesos' JSON straight from Agora's status: the bytes appendJSON writes
// for sched.Event{UPDATE, statusOut(s)}, without building the Mesos
// messages or walking them by reflection (a framework gets two updates a
// task; TestUpdateJSONMatchesGeneric and FuzzUpdateJSON check the bytes).
// false: s has a part it leaves to the generic encoder (a check status).
//
// Fields go in the order the generic encoder writes them, the order
// mesos.proto declares them: Event.type, Event.update; TaskStatus.task_id,
// state, message, source, reason, (data: never set), agent_id,
// executor_id, timestamp, uuid, healthy.
func appendUpdateJSON(b []byte, s *messages.TaskStatus) ([]byte, bool) {
	if s.CheckStatus != nil {
		return b, false
	}
	m := statusMapped(s)
	b = append(b, `{"type":"UPDATE","update":{"status":{"task_id":{"value":`...)
	b = appendString(b, s.GetTaskId().GetValue())
	b = append(b, `},"state":`...)
	b = appendString(b, m.state.String())
	if m.message != "" {
		b = append(b, `,"message":`...)
		b = appendString(b, m.message)
	}
	if m.source != nil {
		b = append(b, `,"source":`...)
		b = appendString(b, m.source.String())
	}
	if m.reason != nil {
		b = append(b, `,"reason":`...)
		b = appendString(b, m.reason.String())
	}
	if a := s.GetAgentId().GetValue(); a != "" {
		b = append(b, `,"agent_id":{"value":`...)
		b = appendString(b, a)
		b = append(b, '}')
	}
	if e := s.GetExecutorId().GetValue(); e != "" {
		b = append(b, `,"executor_id":{"value":`...)
		b = appendString(b, e)
		b = append(b, '}')
	}
	if s.TimestampUnixNano != 0 {
		b = append(b, `,"timestamp":`...)
		b = appendFloat(b, statusTimestamp(s), 64)
	}
	if len(s.Uuid) > 0 {
		b = append(b, `,"uuid":"`...)
		b = base64.StdEncoding.AppendEncode(b, s.Uuid)
		b = append(b, '"')
	}
	if s.Healthy != nil {
		b = append(b, `,"healthy":`...)
		b = strconv.AppendBool(b, *s.Healthy)
	}
	return append(b, "}}}"...), true
}
