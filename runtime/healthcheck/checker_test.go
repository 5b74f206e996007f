package healthcheck_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/healthcheck"
)

var errDown = errors.New("connection refused")

// step is one probe's result at a time after the start, and the verdict
// it must give.
type step struct {
	at     time.Duration
	err    error
	report bool
	health bool
	kill   bool
}

func times() messages.HealthCheckTimes {
	return messages.HealthCheckTimes{Delay: time.Second, Interval: 2 * time.Second, Timeout: time.Second, GracePeriod: 5 * time.Second, ConsecutiveFailures: 3}
}

// Mesos' health checker rules (src/checks/health_checker.cpp), one case
// each; Agora reports changes of health only.
func TestCheckerPolicy(t *testing.T) {
	ok := error(nil)
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"the first success reports healthy, later ones nothing", []step{
			{at: 1 * time.Second, err: ok, report: true, health: true},
			{at: 3 * time.Second, err: ok},
			{at: 5 * time.Second, err: ok},
		}},
		{"failures within the grace period are ignored before a first success", []step{
			{at: 1 * time.Second, err: errDown},
			{at: 3 * time.Second, err: errDown},
			{at: 5 * time.Second, err: errDown},
			{at: 7 * time.Second, err: errDown, report: true, health: false},
			{at: 9 * time.Second, err: errDown},
			{at: 11 * time.Second, err: errDown, kill: true},
		}},
		{"a success ends the grace period early", []step{
			{at: 1 * time.Second, err: ok, report: true, health: true},
			{at: 3 * time.Second, err: errDown, report: true, health: false},
			{at: 5 * time.Second, err: errDown},
			{at: 7 * time.Second, err: errDown, kill: true},
		}},
		{"a success resets the count of consecutive failures", []step{
			{at: 1 * time.Second, err: ok, report: true, health: true},
			{at: 3 * time.Second, err: errDown, report: true, health: false},
			{at: 5 * time.Second, err: errDown},
			{at: 7 * time.Second, err: ok, report: true, health: true},
			{at: 9 * time.Second, err: errDown, report: true, health: false},
			{at: 11 * time.Second, err: errDown},
			{at: 13 * time.Second, err: errDown, kill: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			c := healthcheck.New(times(), start)
			if c.First() != time.Second {
				t.Fatalf("first probe after %s, want the delay 1s", c.First())
			}
			for i, s := range tc.steps {
				v := c.Observe(start.Add(s.at), s.err)
				if v.Report != s.report || (s.report && v.Healthy != s.health) || v.Kill != s.kill {
					t.Fatalf("step %d (at %s, err %v): got %+v, want report=%v healthy=%v kill=%v", i, s.at, s.err, v, s.report, s.health, s.kill)
				}
				if !v.Kill && v.Next != 2*time.Second {
					t.Fatalf("step %d: next probe after %s, want the interval 2s", i, v.Next)
				}
				if v.Kill && (v.Failures != 3 || !strings.Contains(v.Why, "3 consecutive") || !strings.Contains(v.Why, errDown.Error())) {
					t.Fatalf("step %d: kill verdict %+v does not say why", i, v)
				}
			}
		})
	}
}

// After the kill the checker asks for nothing: no report, no next probe.
func TestCheckerStopsAfterKill(t *testing.T) {
	start := time.Unix(1000, 0)
	tm := times()
	tm.ConsecutiveFailures, tm.GracePeriod = 1, 0
	c := healthcheck.New(tm, start)
	if v := c.Observe(start.Add(time.Second), errDown); !v.Kill || !v.Report || v.Healthy {
		t.Fatalf("one failure with a limit of 1 and no grace period: %+v, want a kill reporting unhealthy", v)
	}
	if v := c.Observe(start.Add(3*time.Second), nil); v != (healthcheck.Verdict{}) {
		t.Fatalf("after the kill: %+v, want nothing", v)
	}
	if h := c.Healthy(); h == nil || *h {
		t.Fatalf("last health reported %v, want false", h)
	}
}

// Unset fields take Mesos' defaults; validation refuses what cannot run.
func TestTimesAndValidation(t *testing.T) {
	h := &messages.HealthCheck{Type: messages.HealthCheck_TCP, Tcp: &messages.HealthCheck_TCPCheckInfo{Port: 80}}
	if got, want := h.Times(), (messages.HealthCheckTimes{Delay: 15 * time.Second, Interval: 10 * time.Second, Timeout: 20 * time.Second,
		GracePeriod: 10 * time.Second, ConsecutiveFailures: 3}); got != want {
		t.Fatalf("defaults: %+v, want %+v", got, want)
	}
	zero, half := 0.0, 0.5
	h.TimeoutSeconds, h.DelaySeconds = &zero, &half
	if got := h.Times(); got.Timeout != 0 || got.Delay != 500*time.Millisecond {
		t.Fatalf("explicit times: %+v", got)
	}
	neg, big := -1.0, 1e12
	for name, bad := range map[string]*messages.HealthCheck{
		"no type":          {},
		"http without url": {Type: messages.HealthCheck_HTTP},
		"bad scheme":       {Type: messages.HealthCheck_HTTP, Http: &messages.HealthCheck_HTTPCheckInfo{Port: 80, Scheme: "ftp"}},
		"relative path":    {Type: messages.HealthCheck_HTTP, Http: &messages.HealthCheck_HTTPCheckInfo{Port: 80, Path: "health"}},
		"port 0":           {Type: messages.HealthCheck_TCP, Tcp: &messages.HealthCheck_TCPCheckInfo{}},
		"empty command":    {Type: messages.HealthCheck_COMMAND, Command: &messages.CommandInfo{}},
		"negative delay":   {Type: messages.HealthCheck_TCP, Tcp: &messages.HealthCheck_TCPCheckInfo{Port: 1}, DelaySeconds: &neg},
		"huge interval":    {Type: messages.HealthCheck_TCP, Tcp: &messages.HealthCheck_TCPCheckInfo{Port: 1}, IntervalSeconds: &big},
		"zero interval":    {Type: messages.HealthCheck_TCP, Tcp: &messages.HealthCheck_TCPCheckInfo{Port: 1}, IntervalSeconds: &zero},
	} {
		if err := messages.ValidateHealthCheck(bad); !errors.Is(err, messages.ErrBadHealthCheck) {
			t.Errorf("%s: got %v, want ErrBadHealthCheck", name, err)
		}
	}
	exec := &messages.TaskInfo{TaskId: &messages.TaskID{Value: "t"}, Executor: &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "e"}}, HealthCheck: h}
	if err := messages.ValidateTaskInfo(exec); !errors.Is(err, messages.ErrBadHealthCheck) {
		t.Errorf("a custom executor's task with a health check: got %v, want ErrBadHealthCheck", err)
	}
}

// A check's result is reported the first time and whenever it changes
// (Mesos' checker); the same result again is not.
func TestWatchReportsChanges(t *testing.T) {
	w := healthcheck.NewWatch(messages.HealthCheckTimes{Delay: time.Second, Interval: 2 * time.Second})
	code := func(c int32) *messages.CheckStatusInfo {
		return &messages.CheckStatusInfo{Type: messages.HealthCheck_COMMAND, CommandExitCode: &c}
	}
	incomplete := &messages.CheckStatusInfo{Type: messages.HealthCheck_COMMAND}
	for i, s := range []struct {
		st     *messages.CheckStatusInfo
		report bool
	}{{code(1), true}, {code(1), false}, {code(0), true}, {incomplete, true}, {incomplete, false}, {code(0), true}} {
		if got := w.Observe(s.st); got != s.report {
			t.Fatalf("step %d (%v): report %v, want %v", i, s.st, got, s.report)
		}
	}
	if w.First() != time.Second || w.Interval() != 2*time.Second || w.Last().GetCommandExitCode() != 0 || w.Last().CommandExitCode == nil {
		t.Fatalf("times or last result wrong: %v %v %v", w.First(), w.Interval(), w.Last())
	}
}
