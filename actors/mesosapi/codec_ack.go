package mesosapi

import (
	"encoding/base64"
	"unicode/utf8"

	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// An HTTP framework sends one ACKNOWLEDGE per status update, the most
// frequent call by far; protojson's reflection was most of its handler's
// cost. decodeAcknowledgeJSON reads exactly the shape Mesos' clients send
// ({"framework_id":{"value":..},"type":"ACKNOWLEDGE","acknowledge":
// {"agent_id":{"value":..},"task_id":{"value":..},"uuid":base64}}, keys in
// any order, any JSON whitespace) without reflection. Anything else (other
// keys or call types, escapes beyond the simple ones, duplicate keys,
// nulls, numbers) returns false and protojson reads the call, so the
// result is always protojson's (FuzzAcknowledgeJSON checks it).

// decodeAcknowledgeJSON fills c (reset first) from b, or returns false
// having decided nothing (c is then reset by protojson).
func decodeAcknowledgeJSON(b []byte, c *sched.Call) bool {
	d := callDecoder{b: b}
	var fid, agent, task, typ string
	var uuid []byte
	var seenFID, seenType, seenAck, seenAgent, seenTask, seenUUID bool
	ok := d.object(func(key string) bool {
		switch key {
		case "framework_id":
			return once(&seenFID) && d.valueObject(&fid)
		case "type":
			var s string
			if !once(&seenType) || !d.str(&s) {
				return false
			}
			typ = s
			return true
		case "acknowledge":
			return once(&seenAck) && d.object(func(key string) bool {
				switch key {
				case "agent_id":
					return once(&seenAgent) && d.valueObject(&agent)
				case "task_id":
					return once(&seenTask) && d.valueObject(&task)
				case "uuid":
					var s string
					if !once(&seenUUID) || !d.str(&s) {
						return false
					}
					u, err := base64.StdEncoding.DecodeString(s)
					if err != nil {
						return false
					}
					uuid = u
					return true
				}
				return false
			})
		}
		return false
	})
	// Acknowledge's three fields are required (proto2): protojson
	// refuses a call without one, and says which.
	if !ok || d.skipSpace() != len(b) || typ != "ACKNOWLEDGE" || !seenAck || !seenAgent || !seenTask || !seenUUID {
		return false
	}
	proto.Reset(c)
	c.Type = sched.Call_ACKNOWLEDGE.Enum()
	if seenFID {
		c.FrameworkId = &mesos.FrameworkID{Value: &fid}
	}
	if uuid == nil {
		uuid = []byte{} // set, if empty
	}
	c.Acknowledge = &sched.Call_Acknowledge{AgentId: &mesos.AgentID{Value: &agent}, TaskId: &mesos.TaskID{Value: &task}, Uuid: uuid}
	return true
}

// once marks a key seen; false if it was (protojson refuses duplicates).
func once(seen *bool) bool {
	if *seen {
		return false
	}
	*seen = true
	return true
}

// callDecoder is the little JSON reader the fast paths of calls need
// (decodeAcknowledgeJSON, decodeAcceptJSON): objects, and strings without
// \u escapes (codec_accept.go adds arrays, numbers and booleans).
type callDecoder struct {
	b []byte
	i int
}

func (d *callDecoder) skipSpace() int {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return d.i
		}
	}
	return d.i
}

func (d *callDecoder) byte(c byte) bool {
	if d.skipSpace() < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads {"key": value, ...}, field reading each value. Keys are
// only the ones the fast paths know (callKeys), without escapes: any
// other key ends the fast path anyway, and looking the bytes up costs no
// allocation.
func (d *callDecoder) object(field func(key string) bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.byte('}') {
		return true
	}
	for {
		key, ok := d.key()
		if !ok || !d.byte(':') || !field(key) {
			return false
		}
		if d.byte('}') {
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

// callKeys are the keys the fast paths read, each its own key.
var callKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"framework_id", "type", "acknowledge", "agent_id", "task_id", "uuid", "value",
		"accept", "decline", "offer_ids", "operations", "filters", "refuse_seconds", "launch", "task_infos", "name",
		"resources", "command", "labels", "scalar", "ranges", "range", "begin", "end", "role", "allocation_info",
		"shell", "arguments", "user", "environment", "variables", "uris", "executable", "extract", "cache", "output_file", "key"} {
		m[k] = k
	}
	return m
}()

// key reads an object's key, one of callKeys written without escapes.
func (d *callDecoder) key() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.b) && d.b[d.i] != '"' && d.b[d.i] != '\\' {
		d.i++
	}
	if d.i == len(d.b) || d.b[d.i] != '"' {
		return "", false
	}
	k, ok := callKeys[string(d.b[start:d.i])]
	d.i++
	return k, ok
}

// valueObject reads {"value": "..."}, the shape of every Mesos ID.
func (d *callDecoder) valueObject(v *string) bool {
	seen := false
	return d.object(func(key string) bool {
		return key == "value" && once(&seen) && d.str(v)
	}) && seen
}

// str reads a JSON string of valid UTF-8 with only the two-character
// escapes.
func (d *callDecoder) str(s *string) bool {
	if !d.byte('"') {
		return false
	}
	start, escaped := d.i, false
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			raw := d.b[start:d.i]
			d.i++
			if !utf8.Valid(raw) {
				return false
			}
			if !escaped {
				*s = string(raw)
				return true
			}
			return unescape(raw, s)
		case c == '\\':
			escaped = true
			d.i += 2
		case c < 0x20:
			return false
		default:
			d.i++
		}
	}
	return false
}

func unescape(raw []byte, s *string) bool {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			return false // \u and anything else: protojson's
		}
	}
	*s = string(out)
	return true
}
