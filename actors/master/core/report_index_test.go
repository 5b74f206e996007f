package core

import (
	"fmt"
	"testing"
)

// A report's index gives the last entry the list has for a key, and
// none for a key it lacks, whether the list is scanned (short) or
// mapped (past shortReport).
func TestReportIndex(t *testing.T) {
	type entry struct{ k, v string }
	key := func(e entry) string { return e.k }
	for _, n := range []int{0, 1, shortReport, shortReport + 1, 3 * shortReport} {
		var list []entry
		for i := range n {
			list = append(list, entry{fmt.Sprint(i % (n/2 + 1)), fmt.Sprint(i)})
		}
		idx := newReportIndex(list, key)
		if mapped := idx.byKey != nil; mapped != (n > shortReport) {
			t.Errorf("%d entries: mapped %v", n, mapped)
		}
		want := map[string]string{}
		for _, e := range list {
			want[e.k] = e.v // the last wins
		}
		for k, v := range want {
			if got, ok := idx.get(k); !ok || got.v != v {
				t.Errorf("%d entries: get(%s) = %v, %v; want %s", n, k, got, ok, v)
			}
		}
		if got, ok := idx.get("none"); ok || got != (entry{}) {
			t.Errorf("%d entries: get(none) = %v, %v", n, got, ok)
		}
	}
}
