package mesosapi

import (
	"strconv"

	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// An HTTP framework answers each offer with an ACCEPT (or a DECLINE), and
// protojson's reflection over the launched TaskInfos was the largest part
// of the JSON call handler after the acknowledgements. decodeAcceptJSON
// reads ACCEPT and DECLINE without reflection, for the parts a framework
// launching command tasks sends: offer IDs, filters, LAUNCH operations of
// TaskInfos with a name, IDs, scalar and range resources (role,
// allocation_info), a command (value, shell, arguments, user, environment
// variables, URIs) and labels; proto field names, any key order and JSON
// whitespace. Anything else (other keys, operations other than LAUNCH's
// body, JSON names, \u escapes, numbers as strings, nulls, duplicate
// keys, required fields missing) returns false, and protojson reads the
// call: the result is always protojson's (FuzzAcceptJSON checks it).

// decodeAcceptJSON fills c (reset first) from b, or returns false having
// decided nothing of what the caller sees (protojson resets c again).
func decodeAcceptJSON(b []byte, c *sched.Call) bool {
	proto.Reset(c)
	d := callDecoder{b: b}
	if !d.call(c) || d.skipSpace() != len(b) || (c.Accept == nil && c.Decline == nil) {
		return false
	}
	// protojson refuses a message without its required fields, and says
	// which: leave that to it.
	return proto.CheckInitialized(c) == nil
}

// first marks field i of an object seen; false if it was (protojson
// refuses a duplicate key).
func first(seen *uint32, i uint) bool {
	if *seen&(1<<i) != 0 {
		return false
	}
	*seen |= 1 << i
	return true
}

func (d *callDecoder) call(c *sched.Call) bool {
	var seen uint32
	return d.object(func(key string) bool {
		switch key {
		case "framework_id":
			c.FrameworkId = &mesos.FrameworkID{}
			return first(&seen, 0) && d.strObject(&c.FrameworkId.Value)
		case "type":
			var t int32
			if !first(&seen, 1) || !d.enum(sched.Call_Type_value, &t) {
				return false
			}
			c.Type = sched.Call_Type(t).Enum()
			return true
		case "accept":
			c.Accept = &sched.Call_Accept{}
			return first(&seen, 2) && d.accept(c.Accept)
		case "decline":
			c.Decline = &sched.Call_Decline{}
			return first(&seen, 3) && d.decline(c.Decline)
		}
		return false
	})
}

func (d *callDecoder) accept(a *sched.Call_Accept) bool {
	var seen uint32
	return d.object(func(key string) bool {
		switch key {
		case "offer_ids":
			return first(&seen, 0) && d.offerIDs(&a.OfferIds)
		case "operations":
			return first(&seen, 1) && d.array(func() bool {
				op := &mesos.Offer_Operation{}
				a.Operations = append(a.Operations, op)
				return d.operation(op)
			})
		case "filters":
			a.Filters = &mesos.Filters{}
			return first(&seen, 2) && d.filters(a.Filters)
		}
		return false
	})
}

func (d *callDecoder) decline(a *sched.Call_Decline) bool {
	var seen uint32
	return d.object(func(key string) bool {
		switch key {
		case "offer_ids":
			return first(&seen, 0) && d.offerIDs(&a.OfferIds)
		case "filters":
			a.Filters = &mesos.Filters{}
			return first(&seen, 1) && d.filters(a.Filters)
		}
		return false
	})
}

func (d *callDecoder) offerIDs(ids *[]*mesos.OfferID) bool {
	return d.array(func() bool {
		id := &mesos.OfferID{}
		*ids = append(*ids, id)
		return d.strObject(&id.Value)
	})
}

func (d *callDecoder) filters(f *mesos.Filters) bool {
	var seen uint32
	return d.object(func(key string) bool {
		return key == "refuse_seconds" && first(&seen, 0) && d.float(&f.RefuseSeconds)
	})
}

func (d *callDecoder) operation(op *mesos.Offer_Operation) bool {
	var seen uint32
	return d.object(func(key string) bool {
		switch key {
		case "type":
			var t int32
			if !first(&seen, 0) || !d.enum(mesos.Offer_Operation_Type_value, &t) {
				return false
			}
			op.Type = mesos.Offer_Operation_Type(t).Enum()
			return true
		case "launch":
			op.Launch = &mesos.Offer_Operation_Launch{}
			var inner uint32
			return first(&seen, 1) && d.object(func(key string) bool {
				return key == "task_infos" && first(&inner, 0) && d.array(func() bool {
					t := &mesos.TaskInfo{}
					op.Launch.TaskInfos = append(op.Launch.TaskInfos, t)
					return d.task(t)
				})
			})
		}
		return false
	})
}

func (d *callDecoder) task(t *mesos.TaskInfo) bool {
	var seen uint32
	return d.object(func(key string) bool {
		switch key {
		case "name":
			return first(&seen, 0) && d.strPtr(&t.Name)
		case "task_id":
			t.TaskId = &mesos.TaskID{}
			return first(&seen, 1) && d.strObject(&t.TaskId.Value)
		case "agent_id":
			t.AgentId = &mesos.AgentID{}
			return first(&seen, 2) && d.strObject(&t.AgentId.Value)
		case "resources":
			return first(&seen, 3) && d.array(func() bool {
				r := &mesos.Resource{}
				t.Resources = append(t.Resources, r)
				return d.resource(r)
			})
		case "command":
			t.Command = &mesos.CommandInfo{}
			return first(&seen, 4) && d.command(t.Command)
		case "labels":
			t.Labels = &mesos.Labels{}
			return first(&seen, 5) && d.labels(t.Labels)
		}
		return false
	})
}

func (d *callDecoder) resource(r *mesos.Resource) bool {
	var seen uint32
	return d.object(func(key string) bool {
		switch key {
		case "name":
			return first(&seen, 0) && d.strPtr(&r.Name)
		case "type":
			var t int32
			if !first(&seen, 1) || !d.enum(mesos.Value_Type_value, &t) {
				return false
			}
			r.Type = mesos.Value_Type(t).Enum()
			return true
		case "scalar":
			r.Scalar = &mesos.Value_Scalar{}
			var inner uint32
			return first(&seen, 2) && d.object(func(key string) bool {
				return key == "value" && first(&inner, 0) && d.float(&r.Scalar.Value)
			})
		case "ranges":
			r.Ranges = &mesos.Value_Ranges{}
			var inner uint32
			return first(&seen, 3) && d.object(func(key string) bool {
				return key == "range" && first(&inner, 0) && d.array(func() bool {
					rg := &mesos.Value_Range{}
					r.Ranges.Range = append(r.Ranges.Range, rg)
					var bounds uint32
					return d.object(func(key string) bool {
						switch key {
						case "begin":
							return first(&bounds, 0) && d.uint(&rg.Begin)
						case "end":
							return first(&bounds, 1) && d.uint(&rg.End)
						}
						return false
					})
				})
			})
		case "role":
			return first(&seen, 4) && d.strPtr(&r.Role)
		case "allocation_info":
			r.AllocationInfo = &mesos.Resource_AllocationInfo{}
			var inner uint32
			return first(&seen, 5) && d.object(func(key string) bool {
				return key == "role" && first(&inner, 0) && d.strPtr(&r.AllocationInfo.Role)
			})
		}
		return false
	})
}

func (d *callDecoder) command(c *mesos.CommandInfo) bool {
	var seen uint32
	return d.object(func(key string) bool {
		switch key {
		case "value":
			return first(&seen, 0) && d.strPtr(&c.Value)
		case "shell":
			return first(&seen, 1) && d.boolean(&c.Shell)
		case "arguments":
			return first(&seen, 2) && d.array(func() bool {
				var s string
				c.Arguments = append(c.Arguments, s)
				return d.str(&c.Arguments[len(c.Arguments)-1])
			})
		case "user":
			return first(&seen, 3) && d.strPtr(&c.User)
		case "environment":
			c.Environment = &mesos.Environment{}
			var inner uint32
			return first(&seen, 4) && d.object(func(key string) bool {
				return key == "variables" && first(&inner, 0) && d.array(func() bool {
					v := &mesos.Environment_Variable{}
					c.Environment.Variables = append(c.Environment.Variables, v)
					var vs uint32
					return d.object(func(key string) bool {
						switch key {
						case "name":
							return first(&vs, 0) && d.strPtr(&v.Name)
						case "value":
							return first(&vs, 1) && d.strPtr(&v.Value)
						}
						return false
					})
				})
			})
		case "uris":
			return first(&seen, 5) && d.array(func() bool {
				u := &mesos.CommandInfo_URI{}
				c.Uris = append(c.Uris, u)
				var us uint32
				return d.object(func(key string) bool {
					switch key {
					case "value":
						return first(&us, 0) && d.strPtr(&u.Value)
					case "executable":
						return first(&us, 1) && d.boolean(&u.Executable)
					case "extract":
						return first(&us, 2) && d.boolean(&u.Extract)
					case "cache":
						return first(&us, 3) && d.boolean(&u.Cache)
					case "output_file":
						return first(&us, 4) && d.strPtr(&u.OutputFile)
					}
					return false
				})
			})
		}
		return false
	})
}

func (d *callDecoder) labels(l *mesos.Labels) bool {
	var seen uint32
	return d.object(func(key string) bool {
		return key == "labels" && first(&seen, 0) && d.array(func() bool {
			x := &mesos.Label{}
			l.Labels = append(l.Labels, x)
			var ks uint32
			return d.object(func(key string) bool {
				switch key {
				case "key":
					return first(&ks, 0) && d.strPtr(&x.Key)
				case "value":
					return first(&ks, 1) && d.strPtr(&x.Value)
				}
				return false
			})
		})
	})
}

// strObject reads {"value": "..."} (every Mesos ID), or {}.
func (d *callDecoder) strObject(v **string) bool {
	var seen uint32
	return d.object(func(key string) bool {
		return key == "value" && first(&seen, 0) && d.strPtr(v)
	})
}

func (d *callDecoder) strPtr(p **string) bool {
	var s string
	if !d.str(&s) {
		return false
	}
	*p = &s
	return true
}

// enum reads an enum by its name (protojson also takes numbers: not
// here).
func (d *callDecoder) enum(names map[string]int32, v *int32) bool {
	var s string
	if !d.str(&s) {
		return false
	}
	n, ok := names[s]
	*v = n
	return ok
}

// array reads [elem, ...].
func (d *callDecoder) array(elem func() bool) bool {
	if !d.byte('[') {
		return false
	}
	if d.byte(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.byte(']') {
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

func (d *callDecoder) boolean(p **bool) bool {
	d.skipSpace()
	for _, lit := range [...]string{"true", "false"} {
		if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
			d.i += len(lit)
			v := lit == "true"
			*p = &v
			return true
		}
	}
	return false
}

// number reads a JSON number token: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
// only its integer part when integer is set.
func (d *callDecoder) number(integer bool) (string, bool) {
	d.skipSpace()
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if !integer && d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i >= len(d.b):
		return "", false
	case d.b[d.i] == '0':
		d.i++
	case d.b[d.i] >= '1' && d.b[d.i] <= '9':
		digits()
	default:
		return "", false
	}
	if !integer {
		if d.i < len(d.b) && d.b[d.i] == '.' {
			d.i++
			if digits() == 0 {
				return "", false
			}
		}
		if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
			d.i++
			if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
				d.i++
			}
			if digits() == 0 {
				return "", false
			}
		}
	}
	return string(d.b[start:d.i]), true
}

// float reads a double as protojson does a JSON number (strconv's
// parse; out of range refused).
func (d *callDecoder) float(p **float64) bool {
	s, ok := d.number(false)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	*p = &f
	return true
}

// uint reads a uint64 written as digits only (protojson also takes
// exponents and strings: not here).
func (d *callDecoder) uint(p **uint64) bool {
	s, ok := d.number(true)
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return false
	}
	*p = &n
	return true
}
