package core

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
)

// offerTimeout rescinds a framework's offers that are out past their
// expiry. Each framework has at most one armed, for its earliest expiry
// (frameworkRecord.offerTimer), and it names no offers: a timer per Offers
// message naming its offers kept each ID alive for the whole timeout
// however soon the offer went, 50 KB per framework that came and left, and
// the master's heap grew into fresh pages with them (docs/benchmarks.md,
// session 17).
type offerTimeout struct {
	frameworkID string
	at          time.Time // frameworkRecord.offerTimer when armed
}

func (offerTimeout) isTimer() {}

// offersPerMessage bounds an Offers message: the framework can act on the
// first offers while the rest are prepared, and a remoting frame stays far
// below gRPC's limits (one offer is ~200 bytes).
const offersPerMessage = 256

// firstOffersPerMessage bounds a framework's first Offers message of an
// offering: the first offers reach it after 32 offers' building,
// encoding and decoding rather than 256's.
const firstOffersPerMessage = 32

// Allocated turns the allocator's grants into offers. A grant the books
// can no longer honour is dropped (the allocator already took it back) or
// returned. It is OfferGrants and OfferMore in one Ready, for callers that
// have nothing to gain from sending the first offers early.
func (c *Core) Allocated(msg *messages.Allocated, now time.Time) Ready {
	if c.startOffering(msg, now) {
		for !c.offerSome() {
		}
	}
	return c.ready()
}

// OfferGrants is Allocated a step at a time: it stops as soon as an Offers
// message is full (offersPerMessage) and returns what is ready, with more
// set while grants are left. The shell carries the Ready out and calls
// OfferMore until more is false, before any other input: a framework
// offered every agent of a large cluster gets its first 32 offers while
// the master builds the rest (at 1,000 agents building them all took most
// of the time from a subscription to its first offer).
func (c *Core) OfferGrants(msg *messages.Allocated, now time.Time) (r Ready, more bool) {
	if !c.startOffering(msg, now) {
		return c.ready(), false
	}
	return c.OfferMore()
}

// OfferMore continues what OfferGrants started: the next full Offers
// message, or the rest.
func (c *Core) OfferMore() (r Ready, more bool) {
	if c.offering == nil {
		return c.ready(), false
	}
	done := c.offerSome()
	return c.ready(), !done
}

// offering is the allocator's message being turned into offers: where
// OfferGrants stopped, and each framework's offers not yet sent.
type offering struct {
	grants      []policy.Grant
	next        int
	now         time.Time
	expires     time.Time
	byFramework map[string][]*messages.Offer
	order       []string // frameworks in the allocator's order
	// sent holds the frameworks that had an Offers message of this
	// offering already (their next ones hold offersPerMessage).
	sent map[string]bool
	// slab is where the next offers' messages are cut from.
	slab []offerSlot
}

// offerSlot is an Offer with its ID, allocated together and many at a
// time (offerSlab): they were 2 of the core's 15 allocations per offer
// made and declined (BenchmarkOfferAndDecline).
type offerSlot struct {
	offer messages.Offer
	id    messages.OfferID
}

// offerSlab bounds a slab: an offer's message keeps its slab alive while
// a framework in the same process holds it.
const offerSlab = 64

// newOffer is a zero Offer whose Id points at its zero OfferID.
func (o *offering) newOffer() *messages.Offer {
	if len(o.slab) == 0 {
		o.slab = make([]offerSlot, min(offerSlab, len(o.grants)-o.next+1))
	}
	s := &o.slab[0]
	o.slab = o.slab[1:]
	s.offer.Id = &s.id
	return &s.offer
}

// startOffering decodes the allocator's grants; false if there is nothing
// to offer. An offering left unfinished (a shell that broke off) is
// finished first, so that no grant is lost.
func (c *Core) startOffering(msg *messages.Allocated, now time.Time) bool {
	if c.offering != nil {
		for !c.offerSome() {
		}
	}
	grants, err := policy.DecodeGrantsInto(msg, c.grants)
	c.grants = grants
	if err != nil {
		c.log.Error("allocator sent grants that do not decode; dropped", "err", err)
		return false
	}
	o := &c.offeringBuf
	*o = offering{grants: grants, now: now, byFramework: o.byFramework, order: o.order[:0], sent: o.sent, slab: o.slab}
	if o.byFramework == nil {
		o.byFramework = make(map[string][]*messages.Offer, 4)
		o.sent = make(map[string]bool, 4)
	}
	if c.cfg.OfferTimeout > 0 {
		o.expires = now.Add(c.cfg.OfferTimeout)
	}
	c.offering = o
	return true
}

// offerSome turns grants into offers until an Offers message is full and
// queued; at the end of the grants it queues what is left of every
// framework's and reports done.
func (c *Core) offerSome() (done bool) {
	o := c.offering
	grants, now, expires := o.grants, o.now, o.expires
	for o.next < len(grants) {
		i := o.next
		g := grants[i]
		o.next++
		f, fwOK := c.books.frameworks[g.FrameworkID]
		if fwOK && len(f.offers) == 0 && len(grants)-i > 8 {
			// A framework's first offers (a new framework gets one from
			// every agent): its map sized once rather than grown ten
			// times, each growth garbage. A map its declines emptied
			// keeps its table: made anew only for more than it was made
			// for, not at each offering of a framework that declines
			// everything (a map of its size garbage every time).
			if n := countFramework(grants[i:], g.FrameworkID); n > f.offersSized {
				f.offers = make(map[string]*offerRecord, n)
				f.offersSized = n
			}
		}
		a, agentOK := c.books.agents[g.AgentID]
		if !fwOK || !agentOK || !a.reachable || a.incarnation != g.Incarnation {
			// The allocator made this grant before it heard that the
			// framework or the agent (this incarnation of it) is gone,
			// and reclaimed it when it did: nothing to give back.
			continue
		}
		if !f.connected || f.tearingDown || a.drain != nil {
			// Things changed since the allocator decided: give it back.
			c.toAllocator(&messages.AllocatorReturn{FrameworkId: g.FrameworkID, Role: g.Role, AgentId: g.AgentID,
				Resources: policy.ToQuantities(g.Resources), Revocable: policy.ToQuantities(g.Revocable), Reservation: g.Reservation})
			continue
		}
		res := g.Resources.ToMessages(g.AsRevocable)
		if g.Reservation != "" {
			res = withVolumes(reservedAs(g.Resources, offeredReservation(a.info.Resources, g.Reservation)), a, g.Reservation, sharesResources(f))
			if len(res) == 0 && g.Revocable.IsEmpty() {
				// All of it is shared volumes a framework without
				// SHARED_RESOURCES is not shown: declined for it, as
				// it would decline an offer of nothing.
				c.toAllocator(&messages.AllocatorReturn{FrameworkId: g.FrameworkID, Role: g.Role, AgentId: g.AgentID,
					Resources: policy.ToQuantities(g.Resources), Kind: messages.AllocatorReturn_DECLINE, RefuseNanos: -1, Reservation: g.Reservation})
				continue
			}
		}
		rec := c.books.addOffer(g, now, expires)
		offer := o.newOffer()
		offer.Id.Value, offer.FrameworkId, offer.AgentId, offer.Hostname = rec.id, f.info.Id, a.info.Id, a.info.Hostname
		offer.Resources, offer.Attributes = append(res, g.Revocable.ToMessages(true)...), a.info.Attributes
		offer.Role, offer.MasterEpoch, offer.AgentHttpAddress = g.Role, c.epoch(), a.info.HttpAddress
		if !expires.IsZero() {
			offer.ExpiresUnixNano = expires.UnixNano()
		}
		pending, seen := o.byFramework[g.FrameworkID]
		if !seen {
			o.order = append(o.order, g.FrameworkID)
		}
		pending = append(pending, offer)
		if len(pending) == offersPerMessage || (len(pending) == firstOffersPerMessage && !o.sent[g.FrameworkID]) {
			c.sendOffers(f, pending, now)
			o.byFramework[g.FrameworkID] = nil
			o.sent[g.FrameworkID] = true
			return false
		}
		o.byFramework[g.FrameworkID] = pending
	}
	for _, id := range o.order {
		if offers := o.byFramework[id]; len(offers) > 0 {
			c.sendOffers(c.books.frameworks[id], offers, now)
		}
	}
	// The next offering reuses the map and the order, not the offers
	// (they went out in messages).
	clear(o.byFramework)
	clear(o.sent)
	o.grants = nil
	c.offering = nil
	return true
}

// sendOffers sends offers to the framework's scheduler and times them out
// together: one timer per batch, not one per offer (a framework offered
// 10,000 agents at once needs one).
func (c *Core) sendOffers(f *frameworkRecord, offers []*messages.Offer, now time.Time) {
	c.send(f.conn, &messages.Offers{Offers: offers, MasterEpoch: c.epoch()})
	f.pending.received += uint64(len(offers))
	f.pending.lastOffer = now
	c.cfg.Metrics.Count(OffersSent, "", len(offers))
	if c.cfg.OfferTimeout > 0 && f.offerTimer.IsZero() {
		c.armOfferTimeout(f, now.Add(c.cfg.OfferTimeout), now)
	}
}

// armOfferTimeout arms the framework's offer timer for at.
func (c *Core) armOfferTimeout(f *frameworkRecord, at, now time.Time) {
	f.offerTimer = at
	c.arm(at.Sub(now), offerTimeout{frameworkID: f.id(), at: at})
}

// offersTimedOut rescinds the framework's offers past their expiry, oldest
// first, and arms the timer again for the earliest of the rest, no sooner
// than a hundredth of the timeout from now: a framework sent offers every
// millisecond would otherwise have its offers walked every millisecond.
func (c *Core) offersTimedOut(t offerTimeout, now time.Time) {
	f, ok := c.books.frameworks[t.frameworkID]
	if !ok || !f.offerTimer.Equal(t.at) {
		return // the framework left, or this is not its armed timer
	}
	f.offerTimer = time.Time{}
	var expired []*offerRecord
	var next time.Time
	for _, o := range f.offers {
		switch {
		case o.expires.IsZero():
		case !o.expires.After(now):
			expired = append(expired, o)
		case next.IsZero() || o.expires.Before(next):
			next = o.expires
		}
	}
	slices.SortFunc(expired, func(a, b *offerRecord) int { return cmp.Compare(a.seq, b.seq) })
	for _, o := range expired {
		c.log.Info("offer timed out; rescinding", "framework_id", t.frameworkID, "offer_id", o.id)
		c.rescind(o, fmt.Sprintf("offer not used within the offer timeout (%v)", c.cfg.OfferTimeout))
	}
	if !next.IsZero() {
		c.armOfferTimeout(f, maxTime(next, now.Add(c.cfg.OfferTimeout/100)), now)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// giveBack returns an offer's resources to the allocator.
func (c *Core) giveBack(o *offerRecord, kind messages.AllocatorReturn_Kind, refuse time.Duration) {
	s := c.returnSlot()
	r := &s.ret
	r.FrameworkId, r.Role, r.AgentId, r.Kind, r.RefuseNanos, r.Reservation = o.frameworkID, o.role, o.agentID, kind, int64(refuse), o.resv
	r.Resources, r.Revocable = policy.FillQuantities(&s.res, o.res), policy.ToQuantities(o.rev) // revocable: rare, nil when none
	c.toAllocator(r)
}

// returnSlot is an AllocatorReturn with room for its quantities, cut from
// a slab of offerSlab: every declined or rescinded offer sends one, and
// the two were 2 of the core's 12 allocations per offer made and declined.
// The allocator only reads them.
type returnSlot struct {
	ret messages.AllocatorReturn
	res messages.Quantities
}

func (c *Core) returnSlot() *returnSlot {
	if len(c.returns) == 0 {
		c.returns = make([]returnSlot, offerSlab)
	}
	s := &c.returns[0]
	c.returns = c.returns[1:]
	return s
}

// rescindAll withdraws every outstanding offer of a framework.
func (c *Core) rescindAll(f *frameworkRecord, reason string) {
	for _, o := range ordered(f.offers, strings.Compare) {
		c.rescind(o, reason)
	}
}

// withdrawAll takes back every outstanding offer of a framework being torn
// down, without telling it: it is going away, and what it could still do
// with an offer is refused as it is torn down. Mesos does the same
// (master.cpp, removeFramework: removeOffer without rescind). A thousand
// RescindOffer messages per teardown were a fifth of the garbage a
// framework's life on a 1,000-agent cluster left behind. giveBack false
// leaves the resources to the allocator's RemoveFramework, which the
// caller sends next.
func (c *Core) withdrawAll(f *frameworkRecord, giveBack bool) {
	for _, o := range ordered(f.offers, strings.Compare) {
		c.books.removeOffer(o)
		if giveBack {
			c.giveBack(o, messages.AllocatorReturn_RECOVER, 0)
		}
		c.changed = true
	}
}

// rescind withdraws an offer: its resources go back and its framework is
// told why.
func (c *Core) rescind(o *offerRecord, reason string) {
	c.books.removeOffer(o)
	c.giveBack(o, messages.AllocatorReturn_RECOVER, 0)
	c.tellRescinded(o, reason)
	c.changed = true
}

// countFramework is how many of grants are for framework id.
func countFramework(grants []policy.Grant, id string) int {
	n := 0
	for i := range grants {
		if grants[i].FrameworkID == id {
			n++
		}
	}
	return n
}

func (c *Core) tellRescinded(o *offerRecord, reason string) {
	c.cfg.Metrics.Count(OffersRescinded, "", 1)
	if f, ok := c.books.frameworks[o.frameworkID]; ok && f.connected {
		c.send(f.conn, &messages.RescindOffer{OfferId: &messages.OfferID{Value: o.id}, Reason: reason, MasterEpoch: c.epoch()})
	}
}

func refuse(f *messages.Filters) time.Duration {
	if f == nil || f.RefuseSeconds == nil {
		return -1 // the allocator's default
	}
	return time.Duration(*f.RefuseSeconds * float64(time.Second))
}

// Decline returns offers whole, filtered for the framework as its filters
// ask.
func (c *Core) Decline(p Peer, msg *messages.Decline, now time.Time) Ready {
	f, ok := c.caller(p, msg.FrameworkId, msg)
	if !ok {
		return c.ready()
	}
	c.decline(p, f, msg, now)
	return c.ready()
}

func (c *Core) decline(p Peer, f *frameworkRecord, msg *messages.Decline, now time.Time) {
	taken, err := c.books.takeOffers(f.id(), msg.OfferIds, false)
	for _, o := range taken {
		c.giveBack(o, messages.AllocatorReturn_DECLINE, refuse(msg.Filters))
		f.pending.filter(o.role, o.agentID, refuse(msg.Filters), now)
	}
	f.pending.declined += uint64(len(taken))
	reason := msg.Reason
	if len(reason) > messages.MaxDeclineReason || !utf8.ValidString(reason) {
		// The decline applies (the offers are back either way); the reason
		// is refused, so the sender learns its counts say "other".
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, fmt.Sprintf(
			"decline reason of %d bytes: at most %d bytes of UTF-8; the offers were declined, counted as %q",
			len(reason), messages.MaxDeclineReason, DeclineOther), msg)
		reason = DeclineOther
	}
	f.pending.countDeclines(reason, len(taken))
	c.cfg.Metrics.Count(OffersDeclined, "", len(taken))
	if err != nil {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_OFFER, err.Error(), msg)
	}
	if len(taken) > 0 {
		c.changed = true
	}
}

// Accept launches tasks on offers of one agent. Invalid tasks end as
// TASK_ERROR; what the tasks leave unused goes back to the allocator at
// once, filtered for this framework as its filters ask.
func (c *Core) Accept(p Peer, msg *messages.Accept, now time.Time) Ready {
	f, ok := c.caller(p, msg.FrameworkId, msg)
	if !ok {
		return c.ready()
	}
	if len(msg.Operations) == 0 {
		// An accept with no operations is a decline (Mesos).
		c.decline(p, f, &messages.Decline{FrameworkId: msg.FrameworkId, OfferIds: msg.OfferIds, Filters: msg.Filters}, now)
		return c.ready()
	}
	ntasks := 0
	for _, op := range msg.Operations {
		ntasks += len(operationTasks(op))
	}
	if ntasks > messages.MaxTasksPerAccept || len(msg.OfferIds) > messages.MaxOffersPerAccept {
		// Refused whole, with one answer (not one TASK_ERROR per task: that
		// would be the flood); the offers it names go back.
		text := fmt.Sprintf("accept names %d offers and %d tasks; at most %d and %d: split it", len(msg.OfferIds), ntasks, messages.MaxOffersPerAccept, messages.MaxTasksPerAccept)
		taken, _ := c.books.takeOffers(f.id(), msg.OfferIds[:min(len(msg.OfferIds), messages.MaxOffersPerAccept)], true)
		for _, o := range taken {
			c.giveBack(o, messages.AllocatorReturn_RECOVER, 0)
		}
		c.log.Warn("accept refused: too large", "framework_id", f.id(), "offers", len(msg.OfferIds), "tasks", ntasks)
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, text, msg)
		c.changed = true
		return c.ready()
	}
	tasks := make([]*messages.TaskInfo, 0, ntasks)
	for _, op := range msg.Operations {
		tasks = append(tasks, operationTasks(op)...)
	}
	taken, err := c.books.takeOffers(f.id(), msg.OfferIds, true)
	if err != nil {
		// Valid offers named by an invalid accept go back whole; every
		// task ends as TASK_ERROR so the framework learns its fate.
		for _, o := range taken {
			c.giveBack(o, messages.AllocatorReturn_RECOVER, 0)
		}
		// Mesos answers TASK_DROPPED to a partition-aware framework
		// (the task never reached an agent); the others keep Agora's
		// TASK_ERROR, not Mesos' TASK_LOST: the launch was the
		// framework's mistake, and retrying it as is fails again.
		state := messages.TaskState_TASK_ERROR
		if partitionAware(f) {
			state = messages.TaskState_TASK_DROPPED
		}
		for _, t := range tasks {
			c.sendStatus(f, c.masterStatus(t.TaskId, nil, state, messages.TaskStatusReason_REASON_INVALID_OFFERS, err.Error(), now))
		}
		c.reject(p.Endpoint, messages.Error_UNKNOWN_OFFER, err.Error(), msg)
		c.changed = true
		return c.ready()
	}
	agentID, role := taken[0].agentID, taken[0].role
	c.cfg.Metrics.Observe(OfferToLaunch, now.Sub(taken[0].made))
	// left is regular, leftRev the agent's revocable pool, leftLent
	// regular resources offered as revocable (policy.Grant.AsRevocable),
	// and resv what is reserved, by role.
	var pools offerPools
	for _, o := range taken {
		switch {
		case o.resv != "":
			if pools.resv == nil {
				pools.resv = map[string]policy.Resources{}
			}
			pools.resv[o.resv] = pools.resv[o.resv].Add(o.res)
		case o.asRev:
			pools.leftLent = pools.leftLent.Add(o.res)
		default:
			pools.left = pools.left.Add(o.res)
		}
		pools.leftRev = pools.leftRev.Add(o.rev)
	}
	launching := make(map[string]bool, len(tasks))
	launched := 0
	a := c.books.agents[agentID]
	for _, op := range msg.Operations {
		var code messages.Error_Code
		var err error
		switch {
		case op.GetReserve() != nil:
			code, err = c.reservation(f, a, role, op.GetReserve().GetResources(), &pools, false)
		case op.GetUnreserve() != nil:
			code, err = c.reservation(f, a, role, op.GetUnreserve().GetResources(), &pools, true)
		case op.GetCreate() != nil:
			code, err = c.volume(f, a, role, op.GetCreate().GetVolumes(), &pools, false)
		case op.GetDestroy() != nil:
			code, err = c.volume(f, a, role, op.GetDestroy().GetVolumes(), &pools, true)
		}
		if err != nil {
			c.log.Warn("accept operation refused", "framework_id", f.id(), "agent_id", agentID, "err", err)
			c.reject(p.Endpoint, code, err.Error(), msg)
			continue
		}
		for _, t := range op.GetLaunch().GetTasks() {
			if c.launch(f, a, role, t, launching, &pools, now) {
				launched++
			}
		}
		if g := op.GetLaunchGroup(); g != nil {
			launched += c.launchGroup(f, a, role, g, launching, &pools, now)
		}
	}
	left := pools.left.Add(pools.leftLent)
	c.cfg.Metrics.Count(TasksLaunched, "", launched)
	kind, refuseNanos := messages.AllocatorReturn_RECOVER, int64(0)
	if launched > 0 {
		// What a launch left unused is filtered for this framework as its
		// accept asks (Mesos); others are offered it at once.
		kind, refuseNanos = messages.AllocatorReturn_UNUSED, int64(refuse(msg.Filters))
	}
	returned := false
	if !left.IsEmpty() || !pools.leftRev.IsEmpty() {
		returned = true
		c.toAllocator(&messages.AllocatorReturn{FrameworkId: f.id(), Role: role, AgentId: agentID,
			Resources: policy.ToQuantities(left), Revocable: policy.ToQuantities(pools.leftRev), Kind: kind, RefuseNanos: refuseNanos})
	}
	for _, resv := range slices.Sorted(maps.Keys(pools.resv)) {
		if r := pools.resv[resv]; !r.IsEmpty() {
			returned = true
			c.toAllocator(&messages.AllocatorReturn{FrameworkId: f.id(), Role: role, AgentId: agentID,
				Resources: policy.ToQuantities(r), Kind: kind, RefuseNanos: refuseNanos, Reservation: resv})
		}
	}
	if launched > 0 && returned {
		f.pending.filter(role, agentID, refuse(msg.Filters), now)
	}
	c.changed = true
	return c.ready()
}

// Suppress stops offers to the framework for roles (all when none).
func (c *Core) Suppress(p Peer, msg *messages.Suppress, now time.Time) Ready {
	if f, ok := c.caller(p, msg.FrameworkId, msg); ok {
		if err := checkRoles(f, msg.Roles); err != nil {
			c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		} else {
			c.suppress(f, msg.Roles)
		}
	}
	return c.ready()
}

// suppress stops offers to f for roles (all of its roles when none).
func (c *Core) suppress(f *frameworkRecord, roles []string) {
	c.toAllocator(&messages.AllocatorSuppress{FrameworkId: f.id(), Roles: roles})
	if len(roles) == 0 {
		roles = f.info.GetRoles()
	}
	if f.pending.suppressed == nil {
		f.pending.suppressed = map[string]bool{}
	}
	for _, r := range roles {
		f.pending.suppressed[r] = true
	}
	c.changed = true
}

// Revive resumes offers to the framework for roles (all when none) and
// clears its filters.
func (c *Core) Revive(p Peer, msg *messages.Revive, now time.Time) Ready {
	if f, ok := c.caller(p, msg.FrameworkId, msg); ok {
		demand, err := reviveDemand(msg)
		var units []demandUnit
		if err == nil {
			units, err = demandUnits(msg.DemandUnits)
		}
		if err == nil {
			err = checkRoles(f, msg.Roles)
		}
		if err != nil {
			c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		} else {
			c.toAllocator(&messages.AllocatorRevive{FrameworkId: f.id(), Roles: msg.Roles, Demand: demand})
			c.stateDemand(f, units)
			// Revive clears the filters and the suppression of the roles
			// named (all when none), as the allocator does.
			revived := msg.Roles
			if len(revived) == 0 {
				revived = f.info.GetRoles()
			}
			for _, r := range revived {
				delete(f.pending.suppressed, r)
				for k := range f.pending.filters {
					if k.role == r {
						delete(f.pending.filters, k)
					}
				}
			}
			c.changed = true
		}
	}
	return c.ready()
}

func checkRoles(f *frameworkRecord, roles []string) error {
	for _, r := range roles {
		if !hasRole(f.info, r) {
			return fmt.Errorf("framework %s is not subscribed to role %q", f.id(), r)
		}
	}
	return nil
}

// reviveDemand converts a Revive's demand hint for the allocator: nil when
// there is none; an error when it names anything but unreserved scalars.
func reviveDemand(msg *messages.Revive) (*messages.Quantities, error) {
	if len(msg.Demand) == 0 {
		return nil, nil
	}
	r, rev, err := policy.FromMessages(msg.Demand)
	if err != nil {
		return nil, fmt.Errorf("revive demand: %w", err)
	}
	if len(r.Ports) > 0 || !rev.IsEmpty() {
		return nil, fmt.Errorf("revive demand: name scalar resources (cpus, mem, disk, gpus), neither ports nor revocable ones")
	}
	return policy.ToQuantities(r), nil
}
