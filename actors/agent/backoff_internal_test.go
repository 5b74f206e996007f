package agent

import (
	"testing"
	"time"
)

// One step of the registration backoff: the wait is the draw's part of the
// capped bound, and the next bound doubles up to the cap.
func TestRegistrationBackoffStep(t *testing.T) {
	for _, c := range []struct {
		bound, limit time.Duration
		u            float64
		wait, next   time.Duration
	}{
		{2 * time.Second, time.Minute, 0, 0, 4 * time.Second},
		{2 * time.Second, time.Minute, 0.5, time.Second, 4 * time.Second},
		{2 * time.Second, time.Minute, 0.999, 1998 * time.Millisecond, 4 * time.Second},
		{48 * time.Second, time.Minute, 0.5, 24 * time.Second, time.Minute},
		{time.Minute, time.Minute, 0.25, 15 * time.Second, time.Minute},
		{2 * time.Minute, time.Minute, 0.5, 30 * time.Second, time.Minute}, // a bound over the cap is capped
	} {
		wait, next := registrationBackoff(c.bound, c.limit, c.u)
		if wait != c.wait || next != c.next {
			t.Errorf("registrationBackoff(%v, %v, %v) = %v, %v; want %v, %v", c.bound, c.limit, c.u, wait, next, c.wait, c.next)
		}
	}
}
