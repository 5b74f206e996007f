package leader

import "time"

// Lease is how long a leader may trust its term without hearing from
// Consul again: a renewal round (pass the check, then confirm the lock)
// that started at t and succeeded proves the session cannot be ended by
// its check before t + TTL, so the lease runs to t + TTL - Margin. It is a
// plain value: times in, a deadline out.
type Lease struct {
	TTL    time.Duration
	Margin time.Duration
	// expires is zero until the first renewal.
	expires time.Time
}

// Renew records a round that started at start and succeeded. It reports
// false, and changes nothing, when the lease had already run out at start:
// the check may have gone critical in between, so the lock is not proven
// held since, and the term is over.
func (l *Lease) Renew(start time.Time) bool {
	if !l.expires.IsZero() && !start.Before(l.expires) {
		return false
	}
	if e := start.Add(l.TTL - l.Margin); e.After(l.expires) {
		l.expires = e
	}
	return true
}

// Expires is when the lease runs out (zero before the first renewal).
func (l *Lease) Expires() time.Time { return l.expires }

// Expired reports whether the lease has run out at now; a lease never
// renewed has.
func (l *Lease) Expired(now time.Time) bool {
	return l.expires.IsZero() || !now.Before(l.expires)
}

// RoundDeadline is the deadline of a round starting at start: one period
// later, and never after the lease runs out, so that a hung call cannot
// hold a leader past it.
func (l *Lease) RoundDeadline(start time.Time, period time.Duration) time.Time {
	d := start.Add(period)
	if !l.expires.IsZero() && l.expires.Before(d) {
		return l.expires
	}
	return d
}
