package agent_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

// The agent runs a task's HTTP health check on its clock: the first probe
// after the delay, then one per interval; it reports healthy once (not on
// every passing probe), unhealthy at the first failure, and kills the task
// at the limit: TASK_KILLING, then TASK_KILLED with healthy=false and
// REASON_TASK_HEALTH_CHECK_STATUS_UPDATED (Mesos' command executor).
func TestAgentHealthCheckKillsUnhealthyTask(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := uint32(srv.Listener.Addr().(*net.TCPAddr).Port)

	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	addAgent(t, c, testkit.AgentSpec{Containerizer: testkit.SimContainerizer{Clock: clock}, WorkDir: t.TempDir()})
	delay, interval, grace, failures := 1.0, 2.0, 0.0, uint32(3)
	check := &messages.HealthCheck{Type: messages.HealthCheck_HTTP, Http: &messages.HealthCheck_HTTPCheckInfo{Port: port, Path: "/health"},
		DelaySeconds: &delay, IntervalSeconds: &interval, GracePeriodSeconds: &grace, ConsecutiveFailures: &failures}
	var mu sync.Mutex
	var updates []*messages.TaskStatus
	var launched sync.Once
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.Offers:
			launched.Do(func() {
				task := scheduler.Command("web", "serve", scheduler.Resources("cpus:0.5;mem:64"))
				task.HealthCheck = check
				d.Launch(ev.Offers[:1], task)
			})
		case *messages.StatusUpdate:
			mu.Lock()
			updates = append(updates, ev.Status)
			mu.Unlock()
		}
	}))
	c.AdvanceUntil(t, 0, time.Minute, testkit.IsStatus("fw", "web", messages.TaskState_TASK_RUNNING))
	probed := func(passed bool, failures uint32) {
		t.Helper()
		mark := c.Events.Mark()
		c.Advance(t, 2*time.Second) // past the delay, then one interval each
		c.Events.WaitForSince(t, mark, func(ev any) bool {
			h, ok := ev.(agent.HealthChecked)
			return ok && h.TaskID == "web" && h.Passed == passed && h.Failures == failures
		})
	}
	probed(true, 0)
	probed(true, 0)
	failing.Store(true)
	probed(false, 1)
	probed(false, 2)
	probed(false, 3)
	c.AdvanceUntil(t, 0, time.Minute, testkit.IsStatus("fw", "web", messages.TaskState_TASK_KILLED))

	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, st := range updates {
		h := "-"
		if st.Healthy != nil {
			h = map[bool]string{true: "healthy", false: "unhealthy"}[*st.Healthy]
		}
		got = append(got, st.State.String()+"/"+h)
	}
	want := []string{"TASK_STARTING/-", "TASK_RUNNING/-", "TASK_RUNNING/healthy", "TASK_RUNNING/unhealthy", "TASK_KILLING/unhealthy", "TASK_KILLED/unhealthy"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("updates %v, want %v", got, want)
	}
	last := updates[len(updates)-1]
	if last.Reason != messages.TaskStatusReason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED || !strings.Contains(last.Message, "health check failed 3 consecutive times") ||
		!strings.Contains(last.Message, "503") {
		t.Fatalf("TASK_KILLED says %s %q, want the health check reason and why", last.Reason, last.Message)
	}
	if u := updates[2]; u.Reason != messages.TaskStatusReason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
		t.Fatalf("the health update's reason is %s", u.Reason)
	}
}

// A task's check (CheckInfo) is probed on the agent's clock and its result
// reported when it changes, in the task's state with check_status and
// REASON_TASK_CHECK_STATUS_UPDATED; it kills nothing.
func TestAgentCheckReportsChanges(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := uint32(srv.Listener.Addr().(*net.TCPAddr).Port)
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	addAgent(t, c, testkit.AgentSpec{Containerizer: testkit.SimContainerizer{Clock: clock}, WorkDir: t.TempDir()})
	delay, interval := 1.0, 2.0
	var mu sync.Mutex
	var updates []*messages.TaskStatus
	var launched sync.Once
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.Offers:
			launched.Do(func() {
				task := scheduler.Command("web", "serve", scheduler.Resources("cpus:0.5;mem:64"))
				task.Check = &messages.CheckInfo{Type: messages.HealthCheck_HTTP, Http: &messages.HealthCheck_HTTPCheckInfo{Port: port},
					DelaySeconds: &delay, IntervalSeconds: &interval}
				d.Launch(ev.Offers[:1], task)
			})
		case *messages.StatusUpdate:
			mu.Lock()
			updates = append(updates, ev.Status)
			mu.Unlock()
		}
	}))
	c.AdvanceUntil(t, 0, time.Minute, testkit.IsStatus("fw", "web", messages.TaskState_TASK_RUNNING))
	probed := func(code uint32) {
		t.Helper()
		mark := c.Events.Mark()
		c.Advance(t, 2*time.Second)
		c.Events.WaitForSince(t, mark, func(ev any) bool {
			ch, ok := ev.(agent.Checked)
			return ok && ch.TaskID == "web" && ch.Status.GetHttpStatusCode() == code
		})
	}
	probed(503)
	probed(503)
	ready.Store(true)
	probed(200)
	probed(200)
	// The last change reaches the scheduler (a repeat would have been
	// queued by now: the agent acted on the last probe).
	c.Events.WaitFor(t, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		u, isUpdate := se.Event.(*messages.StatusUpdate)
		return ok && isUpdate && u.Status.GetCheckStatus().GetHttpStatusCode() == 200
	})
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, st := range updates {
		s := st.State.String()
		if st.CheckStatus != nil {
			s += fmt.Sprintf("/%d", st.CheckStatus.GetHttpStatusCode())
			if st.Reason != messages.TaskStatusReason_REASON_TASK_CHECK_STATUS_UPDATED {
				t.Errorf("a check update's reason is %s", st.Reason)
			}
		}
		got = append(got, s)
	}
	if want := "TASK_STARTING TASK_RUNNING TASK_RUNNING/503 TASK_RUNNING/200"; strings.Join(got, " ") != want {
		t.Fatalf("updates %q, want %q", strings.Join(got, " "), want)
	}
}
