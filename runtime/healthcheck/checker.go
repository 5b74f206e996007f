// Package healthcheck runs a task's health check (Mesos' HealthCheck): a
// Checker is the policy, a plain value that takes each probe's result and
// the time and says what to report and whether to kill; Probe does one
// probe. The agent is the shell: it arms the timers on its clock, runs
// Probe off its actor and feeds the result back:
//
//	c := healthcheck.New(check.Times(), now)
//	after c.First(): err := healthcheck.Probe(ctx, check, target)
//	v := c.Observe(now, err) // report v.Healthy if v.Report; kill if v.Kill;
//	                         // else probe again after v.Next
package healthcheck

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Checker is one task's health check policy, as Mesos' health checker
// (src/checks/health_checker.cpp) applies it:
//   - the first probe comes Delay after the start; each next one Interval
//     after the previous one ended (a probe is bounded by Timeout);
//   - a failure within GracePeriod of the start is ignored while no probe
//     has succeeded yet (the task may still be starting);
//   - a success after the start or after failures reports healthy;
//   - ConsecutiveFailures failures in a row kill the task.
//
// Unlike Mesos, which reports every failure, a Checker reports a change
// of health only (and the kill): a framework hears of each flap once, and
// the status update stream does not grow with every probe.
type Checker struct {
	times    messages.HealthCheckTimes
	start    time.Time
	passed   bool // a probe succeeded since the start: the grace period is over
	failures uint32
	reported *bool // the last health reported; nil: none yet
	killed   bool
}

// Verdict is what a probe's result asks of the shell.
type Verdict struct {
	// Report: the task's health changed to Healthy; a status update says so.
	Report  bool
	Healthy bool
	// Kill: the task failed Failures probes in a row, its limit; no more
	// probes follow. Why says so, for the task's status.
	Kill     bool
	Failures uint32
	Why      string
	// Next is when to probe again (unless Kill).
	Next time.Duration
}

// New returns the checker of a task that started (began to run) at start.
func New(times messages.HealthCheckTimes, start time.Time) *Checker {
	return &Checker{times: times, start: start}
}

// First is how long after the start the first probe comes.
func (c *Checker) First() time.Duration { return c.times.Delay }

// Timeout bounds one probe (0: none).
func (c *Checker) Timeout() time.Duration { return c.times.Timeout }

// Healthy is the last health reported, nil before any.
func (c *Checker) Healthy() *bool { return c.reported }

// Observe takes the result of the probe that ended at now (err nil: it
// passed) and says what follows. After a kill it asks for nothing more.
func (c *Checker) Observe(now time.Time, err error) Verdict {
	if c.killed {
		return Verdict{}
	}
	v := Verdict{Next: c.times.Interval}
	if err == nil {
		c.passed = true
		c.failures = 0
		v.Report, v.Healthy = c.report(true), true
		return v
	}
	if !c.passed && c.times.GracePeriod > 0 && now.Sub(c.start) <= c.times.GracePeriod {
		return v // still in the grace period
	}
	c.failures++
	v.Failures = c.failures
	v.Report = c.report(false)
	if c.failures >= c.times.ConsecutiveFailures {
		c.killed = true
		v.Kill, v.Next = true, 0
		v.Why = fmt.Sprintf("health check failed %d consecutive times (the limit): %v", c.failures, err)
	}
	return v
}

// report records healthy and says whether it is a change to report.
func (c *Checker) report(healthy bool) bool {
	if c.reported != nil && *c.reported == healthy {
		return false
	}
	c.reported = &healthy
	return true
}

// Watch is one task's check (CheckInfo) policy, as Mesos' checker applies
// it: the first probe Delay after the start, each next one Interval after
// the previous one ended; a result is reported when it differs from the
// last one reported (the first always is). It gates nothing.
type Watch struct {
	times messages.HealthCheckTimes
	last  *messages.CheckStatusInfo
}

// NewWatch returns the policy of a check with times.
func NewWatch(times messages.HealthCheckTimes) *Watch { return &Watch{times: times} }

// First is how long after the start the first probe comes; Interval the
// time between a probe's end and the next; Timeout bounds one (0: none).
func (w *Watch) First() time.Duration    { return w.times.Delay }
func (w *Watch) Interval() time.Duration { return w.times.Interval }
func (w *Watch) Timeout() time.Duration  { return w.times.Timeout }

// Last is the last result reported, nil before any; callers must not
// change it.
func (w *Watch) Last() *messages.CheckStatusInfo { return w.last }

// Observe takes a probe's result and says whether to report it.
func (w *Watch) Observe(st *messages.CheckStatusInfo) bool {
	if w.last != nil && proto.Equal(w.last, st) {
		return false
	}
	w.last = st
	return true
}
