package messages

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrBadHealthCheck: a task's health check cannot be run as given.
var ErrBadHealthCheck = errors.New("invalid health check")

// MaxHealthCheckSeconds bounds each of a health check's times: a day is
// beyond any sensible delay or interval, and keeps the durations far from
// overflow.
const MaxHealthCheckSeconds = 86400

// Mesos' defaults for a HealthCheck's unset fields (mesos.proto).
const (
	DefaultHealthCheckDelay               = 15 * time.Second
	DefaultHealthCheckInterval            = 10 * time.Second
	DefaultHealthCheckTimeout             = 20 * time.Second
	DefaultHealthCheckConsecutiveFailures = 3
	DefaultHealthCheckGracePeriod         = 10 * time.Second
)

// HealthCheckTimes are a health check's times, with Mesos' defaults for
// what it leaves unset. Timeout 0 means none.
type HealthCheckTimes struct {
	Delay, Interval, Timeout, GracePeriod time.Duration
	ConsecutiveFailures                   uint32
}

// Times returns h's times (h validated by ValidateHealthCheck).
func (h *HealthCheck) Times() HealthCheckTimes {
	seconds := func(v *float64, def time.Duration) time.Duration {
		if v == nil {
			return def
		}
		return time.Duration(*v * float64(time.Second))
	}
	t := HealthCheckTimes{
		Delay:               seconds(h.DelaySeconds, DefaultHealthCheckDelay),
		Interval:            seconds(h.IntervalSeconds, DefaultHealthCheckInterval),
		Timeout:             seconds(h.TimeoutSeconds, DefaultHealthCheckTimeout),
		GracePeriod:         seconds(h.GracePeriodSeconds, DefaultHealthCheckGracePeriod),
		ConsecutiveFailures: DefaultHealthCheckConsecutiveFailures,
	}
	if h.ConsecutiveFailures != nil {
		t.ConsecutiveFailures = *h.ConsecutiveFailures
	}
	return t
}

// ValidateHealthCheck checks what Mesos' validation checks (a type with
// its matching part, an http(s) scheme, a path starting with "/") and
// bounds the rest: ports, times, the command's size. nil is valid: no
// check.
func ValidateHealthCheck(h *HealthCheck) error {
	if h == nil {
		return nil
	}
	switch h.Type {
	case HealthCheck_COMMAND:
		if h.GetCommand().GetValue() == "" {
			return fmt.Errorf("%w: a COMMAND health check needs command.value", ErrBadHealthCheck)
		}
		if err := ValidateCommand(h.Command); err != nil {
			return fmt.Errorf("%w: its command: %w", ErrBadHealthCheck, err)
		}
	case HealthCheck_HTTP:
		if h.Http == nil {
			return fmt.Errorf("%w: an HTTP health check needs http (port, path)", ErrBadHealthCheck)
		}
		if s := h.Http.Scheme; s != "" && s != "http" && s != "https" {
			return fmt.Errorf("%w: HTTP scheme %.16q: use http or https", ErrBadHealthCheck, s)
		}
		if p := h.Http.Path; p != "" && (!strings.HasPrefix(p, "/") || len(p) > MaxLabelValue || strings.ContainsAny(p, " \r\n\x00")) {
			return fmt.Errorf("%w: HTTP path %.64q: it must start with / and hold no spaces or line breaks, up to %d bytes", ErrBadHealthCheck, p, MaxLabelValue)
		}
		if err := validPort(h.Http.Port); err != nil {
			return err
		}
	case HealthCheck_TCP:
		if h.Tcp == nil {
			return fmt.Errorf("%w: a TCP health check needs tcp (port)", ErrBadHealthCheck)
		}
		if err := validPort(h.Tcp.Port); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: type %s: use COMMAND, HTTP or TCP", ErrBadHealthCheck, h.Type)
	}
	for name, v := range map[string]*float64{"delay_seconds": h.DelaySeconds, "interval_seconds": h.IntervalSeconds,
		"timeout_seconds": h.TimeoutSeconds, "grace_period_seconds": h.GracePeriodSeconds} {
		if v != nil && (math.IsNaN(*v) || *v < 0 || *v > MaxHealthCheckSeconds) {
			return fmt.Errorf("%w: %s is %v: give 0 to %d seconds", ErrBadHealthCheck, name, *v, MaxHealthCheckSeconds)
		}
	}
	if h.IntervalSeconds != nil && *h.IntervalSeconds == 0 {
		return fmt.Errorf("%w: interval_seconds is 0: give a positive interval", ErrBadHealthCheck)
	}
	if h.ConsecutiveFailures != nil && *h.ConsecutiveFailures == 0 {
		return fmt.Errorf("%w: consecutive_failures is 0: give at least 1", ErrBadHealthCheck)
	}
	return nil
}

func validPort(p uint32) error {
	if p == 0 || p > 65535 {
		return fmt.Errorf("%w: port %d: give 1 to 65535", ErrBadHealthCheck, p)
	}
	return nil
}

// Times returns c's times (Delay, Interval, Timeout; c validated by
// ValidateCheck), with Mesos' defaults for what it leaves unset.
func (c *CheckInfo) Times() HealthCheckTimes {
	h := &HealthCheck{DelaySeconds: c.DelaySeconds, IntervalSeconds: c.IntervalSeconds, TimeoutSeconds: c.TimeoutSeconds}
	t := h.Times()
	t.GracePeriod, t.ConsecutiveFailures = 0, 0
	return t
}

// AsHealthCheck is c's probe as a HealthCheck's (the same kinds, run the
// same way).
func (c *CheckInfo) AsHealthCheck() *HealthCheck {
	return &HealthCheck{Type: c.Type, Command: c.Command, Http: c.Http, Tcp: c.Tcp,
		DelaySeconds: c.DelaySeconds, IntervalSeconds: c.IntervalSeconds, TimeoutSeconds: c.TimeoutSeconds}
}

// ValidateCheck checks a CheckInfo as ValidateHealthCheck does a
// HealthCheck; nil is valid: no check. An HTTP check's scheme is http
// (Mesos' CheckInfo has none).
func ValidateCheck(c *CheckInfo) error {
	if c == nil {
		return nil
	}
	if c.GetHttp().GetScheme() != "" {
		return fmt.Errorf("%w: a check's HTTP request is plain http: leave the scheme out", ErrBadHealthCheck)
	}
	if err := ValidateHealthCheck(c.AsHealthCheck()); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	return nil
}
