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
	f := &messages.FrameworkState{Connected: true, Info: &messages.FrameworkInfo{Roles: []string{"eng"}}, Pending: &messages.FrameworkPending{
		OffersReceived: 3, OffersDeclined: 2,
		Filters: []*messages.FilterState{{AgentId: "A1", Role: "eng", UntilUnixNano: at(5 * time.Second)}},
		FilterSummaries: []*messages.FilterSummary{
			{Role: "eng", Agents: 9000, SoonestUntilUnixNano: at(5 * time.Second), LatestUntilUnixNano: at(time.Hour)},
			{Role: "ops", Agents: 1000, SoonestUntilUnixNano: at(time.Minute), LatestUntilUnixNano: at(2 * time.Minute)},
		},
	}}
	var out strings.Builder
	printPending(&out, &messages.MasterState{SnapshotUnixNano: now.UnixNano(), Frameworks: []*messages.FrameworkState{f}}, f)
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

// describe counts declines by the reason the framework gave, and says
// which of the units of its demand fit no agent (issue 16, why pending).
func TestPrintPendingDeclinesByReasonAndUnfitDemand(t *testing.T) {
	f := &messages.FrameworkState{Connected: true, Info: &messages.FrameworkInfo{Roles: []string{"eng"}}, Pending: &messages.FrameworkPending{
		OffersReceived: 10, OffersDeclined: 9,
		Declines: []*messages.DeclineCount{{Reason: "no gpu", Offers: 6}, {Reason: "unspecified", Offers: 2}, {Reason: "other", Offers: 1}},
		DemandUnfit: &messages.DemandUnfit{
			Unfit:   []*messages.ResourceQuantities{{Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}, {Name: "mem", Scalar: 16384}}}},
			Largest: []*messages.Resource{{Name: "cpus", Scalar: 16}, {Name: "mem", Scalar: 8192}},
			Agents:  3,
		},
	}}
	var out strings.Builder
	printPending(&out, &messages.MasterState{Frameworks: []*messages.FrameworkState{f}}, f)
	for _, want := range []string{
		"declined by reason: 6 no gpu, 2 unspecified, 1 other\n",
		"fits no agent: cpus:2;mem:16384 (the most any of the cluster's 3 agents has: cpus:16;mem:8192)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("describe lacks %q:\n%s", want, out.String())
		}
	}
}

// describe sets a framework's dominant share against its roles' (the
// web UI's "dominant share"): DRF offers first to the role furthest below
// its weighted share, so a framework of a role already over it waits.
func TestPrintPendingSharesAgainstTheRole(t *testing.T) {
	agent := func(reachable bool, res string) *messages.AgentState {
		rs, err := messages.ParseResources(res)
		if err != nil {
			t.Fatal(err)
		}
		return &messages.AgentState{Reachable: reachable, Info: &messages.AgentInfo{Resources: rs}}
	}
	res := func(s string) []*messages.Resource {
		rs, err := messages.ParseResources(s)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	f := &messages.FrameworkState{Connected: true, Info: &messages.FrameworkInfo{Roles: []string{"eng", "batch"}}, Used: res("cpus:2;mem:1024")}
	st := &messages.MasterState{
		// The unreachable agent's resources are not offered: no share of them.
		Agents:     []*messages.AgentState{agent(true, "cpus:4;mem:8192"), agent(true, "cpus:4;mem:8192"), agent(false, "cpus:8;mem:8192")},
		Frameworks: []*messages.FrameworkState{f},
		RoleUsage:  []*messages.RoleUsage{{Role: "eng", Weight: 2, Used: res("cpus:6;mem:2048"), Guarantee: res("cpus:2"), Tasks: 7}},
	}
	var out strings.Builder
	printPending(&out, st, f)
	for _, want := range []string{
		"share: 25.0% cpus of the cluster",
		"role eng: 75.0% cpus of the cluster, weight 2, guarantee cpus:2, limit -, 7 tasks",
		"role batch: no usage or configuration (weight 1, no guarantee, no limit)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
}
