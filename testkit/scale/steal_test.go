package scale

import "testing"

// The steal share is read from /proc/stat's first line, whose eighth
// number is steal; a machine with none reads 0, never negative or NaN.
func TestStealShare(t *testing.T) {
	a, err := readHostTicks()
	if err != nil {
		t.Fatal(err)
	}
	b := hostTicks{total: a.total + 1000, steal: a.steal + 250}
	if got := stealShare(a, b); got != 0.25 {
		t.Errorf("250 of 1000 ticks stolen: share %v, want 0.25", got)
	}
	if got := stealShare(b, a); got != 0 {
		t.Errorf("no time passed: share %v, want 0", got)
	}
	now, err := readHostTicks()
	if err != nil || now.total < a.total || now.steal < a.steal || now.steal > now.total {
		t.Errorf("/proc/stat read twice: %+v then %+v (%v)", a, now, err)
	}
}
