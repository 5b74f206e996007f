package master

import (
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestLivenessCountsMissedIntervals(t *testing.T) {
	var l liveness
	l.observe(t0, time.Second)
	if dead, next := l.check(t0.Add(2999*time.Millisecond), 3); dead || !next.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("dead=%v next=%v", dead, next)
	}
	if dead, _ := l.check(t0.Add(3*time.Second), 3); !dead {
		t.Fatal("3 missed intervals should be unreachable")
	}
	l.observe(t0.Add(3*time.Second), 2*time.Second) // interval grew with the cluster
	if dead, _ := l.check(t0.Add(8*time.Second), 3); dead {
		t.Fatal("the newer, longer interval applies")
	}
}
