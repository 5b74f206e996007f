package scheduler

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
)

// HealthCheck is a task's health check from a one-line spec, as a flag
// gives it: "http://:PORT/PATH" (or https), "tcp://:PORT", or "cmd:COMMAND"
// (a shell command, run beside the task; exit 0 is healthy). interval
// and failures set how often it runs and how many failures in a row kill
// the task; the first check comes after delay, and failures within grace
// of the start are ignored until one passes. Zero keeps Mesos' default of
// each (see messages.HealthCheck).
func HealthCheck(spec string, delay, interval, timeout, grace time.Duration, failures uint32) (*messages.HealthCheck, error) {
	h := &messages.HealthCheck{}
	if cmd, ok := strings.CutPrefix(spec, "cmd:"); ok {
		h.Type, h.Command = messages.HealthCheck_COMMAND, &messages.CommandInfo{Value: cmd, Shell: true}
	} else {
		u, err := url.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("health check %q: %w; give http://:PORT/PATH, tcp://:PORT or cmd:COMMAND", spec, err)
		}
		port, err := strconv.ParseUint(u.Port(), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("health check %q: no port: give http://:PORT/PATH, tcp://:PORT or cmd:COMMAND", spec)
		}
		if u.Hostname() != "" {
			return nil, fmt.Errorf("health check %q: the agent checks the task where it runs: leave the host out (http://:%d%s)", spec, port, u.Path)
		}
		switch u.Scheme {
		case "http", "https":
			h.Type, h.Http = messages.HealthCheck_HTTP, &messages.HealthCheck_HTTPCheckInfo{Port: uint32(port), Path: u.RequestURI(), Scheme: u.Scheme}
		case "tcp":
			h.Type, h.Tcp = messages.HealthCheck_TCP, &messages.HealthCheck_TCPCheckInfo{Port: uint32(port)}
		default:
			return nil, fmt.Errorf("health check %q: scheme %q: give http://:PORT/PATH, tcp://:PORT or cmd:COMMAND", spec, u.Scheme)
		}
	}
	seconds := func(d time.Duration) *float64 {
		if d == 0 {
			return nil
		}
		s := d.Seconds()
		return &s
	}
	h.DelaySeconds, h.IntervalSeconds, h.TimeoutSeconds, h.GracePeriodSeconds = seconds(delay), seconds(interval), seconds(timeout), seconds(grace)
	if failures > 0 {
		h.ConsecutiveFailures = &failures
	}
	if err := messages.ValidateHealthCheck(h); err != nil {
		return nil, fmt.Errorf("health check %q: %w", spec, err)
	}
	return h, nil
}
