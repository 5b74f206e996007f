package main

import (
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// describe counts every filtered agent from the summaries, though the
// snapshot names only a few of them (issue 16).
func TestPrintPendingCountsFiltersFromSummaries(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) int64 { return now.Add(d).UnixNano() }
	f := &messages.FrameworkState{Connected: true, Pending: &messages.FrameworkPending{
		OffersReceived: 3, OffersDeclined: 2,
		Filters: []*messages.FilterState{{AgentId: "A1", Role: "eng", UntilUnixNano: at(5 * time.Second)}},
		FilterSummaries: []*messages.FilterSummary{
			{Role: "eng", Agents: 9000, SoonestUntilUnixNano: at(5 * time.Second), LatestUntilUnixNano: at(time.Hour)},
			{Role: "ops", Agents: 1000, SoonestUntilUnixNano: at(time.Minute), LatestUntilUnixNano: at(2 * time.Minute)},
		},
	}}
	var out strings.Builder
	printPending(&out, f, now)
	for _, want := range []string{
		"filters: 10000 agents refused",
		"role eng: 9000 agents, offered again in 5s to 1h0m0s",
		"role ops: 1000 agents, offered again in 1m0s to 2m0s",
		"A1 for role eng, 5s more",
		"... and 9999 more",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("describe lacks %q:\n%s", want, out.String())
		}
	}
}
