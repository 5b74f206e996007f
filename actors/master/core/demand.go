package core

import (
	"fmt"
	"slices"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// "Fits no agent" (issue 16, why pending). A framework that states the
// units of its demand (Revive.demand_units: its task shapes) is told with
// DemandUnfit when some unit is larger than every registered agent's total
// resources: the allocator would never offer it enough, and without a word
// the framework waits forever. Reservations are considered simply: an
// agent's total, whoever it is reserved for.
//
// It is told once per demand: again when it states other units, or when
// the cluster shrinks so that more units fit no agent or the largest agent
// is smaller than it was told; not on every allocation run. An agent that
// registers only ever makes units fit: the record is updated (/state shows
// it) and the framework is not told.

// demandUnit is one unit of a stated demand: its scalars for the checks,
// and the message as stated for DemandUnfit.
type demandUnit struct {
	need policy.Scalars
	msg  *messages.ResourceQuantities
}

// demandRecord is a framework's stated units and how they fit the cluster.
type demandRecord struct {
	units []demandUnit
	// unfit indexes the units no agent holds, in order; largest is the
	// per-kind most of any agent, agents how many were considered.
	unfit   []int
	largest policy.Scalars
	agents  int
	// told is the unfit set and largest last told to the framework, on
	// the scheduler connection toldConn (nil toldUnfit: nothing told
	// since the units last fit). A scheduler that took over on another
	// connection has heard nothing.
	toldUnfit   []int
	toldLargest policy.Scalars
	toldConn    Endpoint
}

// demandUnits converts a Revive's units: nil when there are none; an error
// when there are too many or one names anything but unreserved scalars.
func demandUnits(qs []*messages.ResourceQuantities) ([]demandUnit, error) {
	if len(qs) > messages.MaxDemandUnits {
		return nil, fmt.Errorf("revive demand_units: %d units, at most %d: name distinct task shapes, not tasks", len(qs), messages.MaxDemandUnits)
	}
	units := make([]demandUnit, 0, len(qs))
	for i, q := range qs {
		r, rev, err := policy.FromMessages(q.GetResources())
		if err != nil {
			return nil, fmt.Errorf("revive demand_units[%d]: %w", i, err)
		}
		if len(r.Ports) > 0 || !rev.IsEmpty() {
			return nil, fmt.Errorf("revive demand_units[%d]: name scalar resources (cpus, mem, disk, gpus), neither ports nor revocable ones", i)
		}
		// Kept and sent on: a copy, so that nothing the sender still
		// holds is shared with the books.
		units = append(units, demandUnit{need: r.Scalars, msg: proto.CloneOf(q)})
	}
	return units, nil
}

// agentTotal is what the agent has in all, reserved or not (cached until
// its AgentInfo is replaced).
func (a *agentRecord) agentTotal() policy.Scalars {
	if a.totalOf != a.info {
		regular, _, reserved, _ := policy.FromMessagesReserved(a.info.GetResources())
		total := regular.Scalars
		for _, r := range reserved {
			total = total.Add(r.Scalars)
		}
		a.total, a.totalOf = total, a.info
	}
	return a.total
}

// stateDemand records the units a framework stated with a Revive (none:
// forget them) and tells it at once of those that fit no agent.
func (c *Core) stateDemand(f *frameworkRecord, units []demandUnit) {
	if len(units) == 0 {
		f.pending.demand = nil
		return
	}
	if old := f.pending.demand; old != nil && slices.EqualFunc(old.units, units, func(a, b demandUnit) bool { return a.need == b.need }) {
		// The same demand restated (a framework revives as tasks come
		// and go): the record is current (agents that came and went
		// updated it) and what the framework was told still holds,
		// unless another scheduler took it over. No walk of the agents.
		c.maybeTellUnfit(f)
		return
	}
	f.pending.demand = &demandRecord{units: units}
	c.fitDemand(f, nil)
}

// fitDemand checks a framework's units against every reachable agent but
// gone (leaving now, nil for none) and tells the framework what does not
// fit, unless it was told just that.
func (c *Core) fitDemand(f *frameworkRecord, gone *agentRecord) {
	d := f.pending.demand
	d.unfit, d.largest, d.agents = d.unfit[:0], policy.Scalars{}, 0
	var fits []bool
	for _, a := range c.books.agents {
		if !a.reachable || a == gone {
			continue
		}
		d.agents++
		total := a.agentTotal()
		for k := range d.largest {
			d.largest[k] = max(d.largest[k], total[k])
		}
		if fits == nil {
			fits = make([]bool, len(d.units))
		}
		for i, u := range d.units {
			fits[i] = fits[i] || total.Contains(u.need)
		}
	}
	for i := range d.units {
		if fits == nil || !fits[i] {
			d.unfit = append(d.unfit, i)
		}
	}
	c.maybeTellUnfit(f)
}

// maybeTellUnfit tells the framework of its unfit units when they, or the
// largest agent, are not what it was last told.
func (c *Core) maybeTellUnfit(f *frameworkRecord) {
	d := f.pending.demand
	if len(d.unfit) == 0 {
		d.toldUnfit, d.toldLargest = nil, policy.Scalars{}
		return
	}
	if slices.Equal(d.unfit, d.toldUnfit) && d.largest == d.toldLargest && d.toldConn == f.conn || !f.connected {
		return
	}
	msg := d.state()
	msg.FrameworkId, msg.MasterEpoch = f.info.GetId(), c.epoch()
	c.send(f.conn, msg)
	d.toldUnfit, d.toldLargest, d.toldConn = slices.Clone(d.unfit), d.largest, f.conn
	c.log.Info("demand fits no agent; framework told", "framework_id", f.id(), "unfit_units", len(d.unfit),
		"first_unfit", policy.Resources{Scalars: d.units[d.unfit[0]].need}.String(),
		"largest_agent", policy.Resources{Scalars: d.largest}.String(), "agents", d.agents)
}

// state is the DemandUnfit the record stands for (nil when every unit fits
// some agent), without the framework ID and epoch.
func (d *demandRecord) state() *messages.DemandUnfit {
	if d == nil || len(d.unfit) == 0 {
		return nil
	}
	out := &messages.DemandUnfit{Agents: uint32(d.agents)}
	for _, i := range d.unfit {
		out.Unfit = append(out.Unfit, d.units[i].msg)
	}
	out.Largest = policy.Resources{Scalars: d.largest}.ToMessages(false)
	return out
}

// demandAgentAdmitted updates the frameworks' unfit units for an agent that
// (re-)registered: units it holds fit now. Nobody is told: the cluster
// grew. Only frameworks with unfit units are looked at, and only this
// agent, so a failover's thousands of re-registrations stay cheap.
func (c *Core) demandAgentAdmitted(a *agentRecord) {
	if !a.reachable {
		return
	}
	total := a.agentTotal()
	for _, f := range c.books.frameworks {
		d := f.pending.demand
		if d == nil {
			continue
		}
		d.agents = c.books.ReachableCount()
		for k := range d.largest {
			d.largest[k] = max(d.largest[k], total[k])
		}
		d.unfit = slices.DeleteFunc(d.unfit, func(i int) bool { return total.Contains(d.units[i].need) })
		if len(d.unfit) == 0 {
			d.toldUnfit, d.toldLargest = nil, policy.Scalars{}
		}
	}
}

// demandAgentGone rechecks the frameworks' units when an agent that
// mattered leaves (unreachable, shut down, removed; it may still be in the
// books): one that held a unit, or the most of some kind. Others change
// nothing but the count.
func (c *Core) demandAgentGone(a *agentRecord) {
	total := a.agentTotal()
	others := c.books.ReachableCount()
	if a.reachable {
		others--
	}
	for _, f := range c.books.frameworks {
		d := f.pending.demand
		if d == nil {
			continue
		}
		mattered := false
		for k := range d.largest {
			mattered = mattered || total[k] > 0 && total[k] >= d.largest[k]
		}
		for _, u := range d.units {
			mattered = mattered || total.Contains(u.need)
		}
		if mattered {
			c.fitDemand(f, a)
		} else {
			d.agents = others
		}
	}
}
