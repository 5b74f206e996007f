package leader

import (
	"testing"
	"time"
)

// The lease is the TTL minus the margin from the start of the last
// successful round, never from its end: the Consul agent reset the check's
// timer at some point after the round started, so the start is the safe
// side. A renewal that starts after expiry cannot revive the term.
func TestLease(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		name    string
		renew   []int // round starts, in ms
		ok      []bool
		now     int
		expired bool
		expires int
	}{
		{name: "never renewed", now: 0, expired: true, expires: -1},
		{name: "one round", renew: []int{0}, ok: []bool{true}, now: 1799, expires: 1800},
		{name: "runs out at TTL minus margin", renew: []int{0}, ok: []bool{true}, now: 1800, expired: true, expires: 1800},
		{name: "a later round extends it", renew: []int{0, 500}, ok: []bool{true, true}, now: 2000, expires: 2300},
		{name: "an older round does not shorten it", renew: []int{500, 0}, ok: []bool{true, true}, now: 2000, expires: 2300},
		{name: "a round started after expiry is refused", renew: []int{0, 1800}, ok: []bool{true, false}, now: 1900, expired: true, expires: 1800},
		{name: "a round started just before expiry counts", renew: []int{0, 1799}, ok: []bool{true, true}, now: 3000, expires: 3599},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Lease{TTL: 2 * time.Second, Margin: 200 * time.Millisecond}
			for i, start := range tc.renew {
				if got := l.Renew(ms(start)); got != tc.ok[i] {
					t.Fatalf("Renew(%d ms) = %v, want %v", start, got, tc.ok[i])
				}
			}
			if got := l.Expired(ms(tc.now)); got != tc.expired {
				t.Errorf("Expired(%d ms) = %v, want %v", tc.now, got, tc.expired)
			}
			if tc.expires >= 0 && !l.Expires().Equal(ms(tc.expires)) {
				t.Errorf("Expires() = %v, want %d ms", l.Expires().Sub(t0), tc.expires)
			}
		})
	}
}

// A round's calls are cut off when the lease runs out, so a hung Consul
// call cannot keep a leader past it.
func TestRoundDeadline(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := Lease{TTL: 2 * time.Second, Margin: 200 * time.Millisecond}
	if d := l.RoundDeadline(t0, 500*time.Millisecond); !d.Equal(t0.Add(500 * time.Millisecond)) {
		t.Errorf("before the first renewal: %v", d.Sub(t0))
	}
	l.Renew(t0)
	if d := l.RoundDeadline(t0.Add(time.Second), 500*time.Millisecond); !d.Equal(t0.Add(1500 * time.Millisecond)) {
		t.Errorf("well within the lease: %v", d.Sub(t0))
	}
	if d := l.RoundDeadline(t0.Add(1500*time.Millisecond), 500*time.Millisecond); !d.Equal(t0.Add(1800 * time.Millisecond)) {
		t.Errorf("near the end of the lease: %v, want the lease's end", d.Sub(t0))
	}
}
