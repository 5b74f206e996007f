package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// epsilon absorbs float sums of resource shares (0.1 + 0.2).
const epsilon = 1e-9

type taskKey struct{ framework, task string }

func (k taskKey) String() string { return k.framework + "/" + k.task }

// ended is a task's first terminal update.
type ended struct {
	state string
	at    time.Time
}

// checker gathers violations, the first per rule and subject: one broken
// task floods no report.
type checker struct {
	out  []Violation
	seen map[string]bool
}

func (c *checker) add(rule Rule, subject string, at time.Time, format string, args ...any) {
	k := string(rule) + "\x00" + subject
	if c.seen[k] {
		return
	}
	c.seen[k] = true
	c.out = append(c.out, Violation{Rule: rule, At: at, Detail: fmt.Sprintf(format, args...)})
}

// Check returns every rule h breaks (none: the run kept them all), in
// the order found: updates, then snapshots, then scans, then the end.
func Check(h History, opts Options) []Violation {
	c := &checker{seen: map[string]bool{}}
	ends := c.updates(h.Updates)
	ids := c.subscriptions(h.Subscriptions)

	snaps := append([]Snapshot(nil), h.Snapshots...)
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].At.Before(snaps[j].At) })
	for _, s := range snaps {
		c.snapshot(s, ends, ids, opts)
	}
	for _, s := range h.Scans {
		c.placements(s.At, "process scan", s.Tasks, ends, opts)
	}

	// Every task the frameworks saw has ended there, or runs at the end.
	if len(snaps) > 0 {
		final := snaps[len(snaps)-1]
		running := map[taskKey]bool{}
		for _, p := range final.Running {
			running[taskKey{p.FrameworkID, p.TaskID}] = true
		}
		for _, k := range sortedKeys(ends) {
			if e := ends[k]; e.state == "" && !running[k] {
				c.add(Unaccounted, k.String(), final.At, "task %s never ended at its framework and is not running in the final snapshot (%s)", k, final.Master)
			}
		}
	} else if len(ends) > 0 {
		c.add(Unaccounted, "", time.Time{}, "no snapshot recorded: %d tasks cannot be accounted for", len(ends))
	}
	return c.out
}

// updates applies the framework-side rules and returns every task seen,
// with its first terminal update (state "" if none).
func (c *checker) updates(all []Update) map[taskKey]ended {
	us := append([]Update(nil), all...)
	sort.SliceStable(us, func(i, j int) bool { return us[i].At.Before(us[j].At) })
	ends := map[taskKey]ended{}
	runningOn := map[taskKey]string{}
	for _, u := range us {
		k := taskKey{u.FrameworkID, u.TaskID}
		e := ends[k]
		switch {
		case e.state != "" && terminal(u.State) && u.Reconciled && u.State == e.state:
			// An answer to reconciliation repeating the end: fine.
		case e.state != "" && terminal(u.State):
			c.add(TerminalOnce, k.String(), u.At, "task %s ended twice at %s: %s at %s, then %s%s",
				k, u.Framework, e.state, e.at.Format("15:04:05.000"), u.State, reconciledNote(u))
		case e.state != "" && u.State == "TASK_RUNNING":
			c.add(EndedButRunning, k.String(), u.At, "task %s was reported %s at %s, then TASK_RUNNING on %q%s",
				k, e.state, e.at.Format("15:04:05.000"), u.AgentID, reconciledNote(u))
		case e.state != "":
			c.add(TerminalOnce, k.String(), u.At, "task %s was reported %s at %s, then %s%s",
				k, e.state, e.at.Format("15:04:05.000"), u.State, reconciledNote(u))
		case terminal(u.State):
			ends[k] = ended{state: u.State, at: u.At}
			delete(runningOn, k)
		default:
			if _, ok := ends[k]; !ok {
				ends[k] = ended{}
			}
			if u.State != "TASK_RUNNING" || u.AgentID == "" {
				continue
			}
			if on := runningOn[k]; on != "" && on != u.AgentID {
				c.add(RunningTwice, k.String(), u.At, "task %s RUNNING on agent %s, then RUNNING on agent %s with no end in between",
					k, on, u.AgentID)
			}
			runningOn[k] = u.AgentID
		}
	}
	return ends
}

// subscriptions checks each framework process keeps its FrameworkID, and
// returns the IDs known under each framework name.
func (c *checker) subscriptions(subs []Subscription) map[string]map[string]bool {
	first := map[string]Subscription{}
	byName := map[string]map[string]bool{}
	for _, s := range subs {
		f, ok := first[s.Framework]
		if !ok {
			first[s.Framework] = s
			if byName[s.Name] == nil {
				byName[s.Name] = map[string]bool{}
			}
			byName[s.Name][s.FrameworkID] = true
			continue
		}
		if s.FrameworkID != f.FrameworkID {
			c.add(FrameworkID, s.Framework, s.At, "framework process %s subscribed as %s, then as %s", s.Framework, f.FrameworkID, s.FrameworkID)
		}
	}
	return byName
}

func (c *checker) snapshot(s Snapshot, ends map[taskKey]ended, ids map[string]map[string]bool, opts Options) {
	for _, a := range s.Agents {
		for _, name := range resourceNames(a) {
			used, offered, total := a.Used[name], a.Offered[name], a.Total[name]
			if used+offered > total+epsilon {
				c.add(Overcommit, a.ID+"/"+name, s.At, "agent %s in %s's snapshot: %s used %g + offered %g exceeds its total %g",
					a.ID, s.Master, name, used, offered, total)
			}
		}
	}
	for id, name := range s.Frameworks {
		if known := ids[name]; len(known) > 0 && !known[id] {
			c.add(FrameworkID, name+"/"+id, s.At, "%s's snapshot shows framework %q as %s, which none of its processes subscribed as (%s)",
				s.Master, name, id, strings.Join(sortedSet(known), ", "))
		}
	}
	c.placements(s.At, s.Master+"'s snapshot", s.Running, ends, opts)
}

// placements checks one instant's running tasks: each on one agent, none
// reported ended more than Grace before.
func (c *checker) placements(at time.Time, what string, ps []Placement, ends map[taskKey]ended, opts Options) {
	agents := map[taskKey]map[string]bool{}
	for _, p := range ps {
		k := taskKey{p.FrameworkID, p.TaskID}
		if agents[k] == nil {
			agents[k] = map[string]bool{}
		}
		agents[k][p.AgentID] = true
		if e, ok := ends[k]; ok && e.state != "" && at.Sub(e.at) > opts.Grace {
			c.add(EndedButRunning, k.String(), at, "task %s was reported %s at %s, yet %s %v later shows it running on agent %s",
				k, e.state, e.at.Format("15:04:05.000"), what, at.Sub(e.at).Round(time.Millisecond), p.AgentID)
		}
	}
	for k, on := range agents {
		if len(on) > 1 {
			c.add(RunningTwice, k.String(), at, "task %s runs on agents %s at once (%s)", k, strings.Join(sortedSet(on), " and "), what)
		}
	}
}

// terminal mirrors messages.IsTerminal on state names (the checker takes
// names, as logs and JSON carry them).
func terminal(state string) bool {
	switch state {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR":
		return true
	}
	return false
}

func reconciledNote(u Update) string {
	if u.Reconciled {
		return " (a reconciliation answer)"
	}
	return ""
}

func resourceNames(a AgentUse) []string {
	set := map[string]bool{}
	for _, m := range []map[string]float64{a.Total, a.Used, a.Offered} {
		for n := range m {
			set[n] = true
		}
	}
	return sortedSet(set)
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[taskKey]ended) []taskKey {
	out := make([]taskKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
