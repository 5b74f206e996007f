package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
)

type statusCmd struct {
	masterFlags
	JSON    bool `name:"json" help:"Print the raw state as JSON."`
	Summary bool `name:"summary" help:"Print the cluster in numbers (GET /state/summary: agents counted, resources totalled, frameworks), without a row per agent: for large clusters."`
}

func (c *statusCmd) Run(*slog.Logger) error {
	path := "/state"
	if c.Summary {
		path = "/state/summary"
	}
	body, err := masterCall(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if c.JSON {
		_, err := os.Stdout.Write(body)
		return err
	}
	if c.Summary {
		sum := &messages.ClusterSummary{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, sum); err != nil {
			return fmt.Errorf("master at %s sent a summary this agora cannot read (version mismatch?): %w", c.MasterHTTP, err)
		}
		printSummary(os.Stdout, sum)
		return nil
	}
	st := &messages.MasterState{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, st); err != nil {
		return fmt.Errorf("master at %s sent state this agora cannot read (version mismatch?): %w", c.MasterHTTP, err)
	}
	printState(os.Stdout, st)
	return nil
}

// printState writes the cluster as a table, one agent a row.
func printState(w io.Writer, st *messages.MasterState) {
	reachable := 0
	for _, a := range st.Agents {
		if a.Reachable {
			reachable++
		}
	}
	m := st.Master
	fmt.Fprintf(w, "master %s at %s (http %s), epoch %d, version %s\n", m.GetId(), m.GetAddress(), m.GetHttpAddress(), m.GetEpoch(), m.GetVersion())
	fmt.Fprintf(w, "agents: %d reachable of %d; heartbeat every %v, unreachable after %d missed\n\n",
		reachable, len(st.Agents), time.Duration(st.HeartbeatIntervalNanos), st.MaxMissedHeartbeats)
	printAgents(w, st, st.Agents)
	if len(st.Frameworks) == 0 {
		return
	}
	fmt.Fprintln(w)
	printFrameworks(w, st.Frameworks)
}

// printSummary writes the cluster in numbers: counts, then a row per
// resource, then the frameworks.
func printSummary(w io.Writer, sum *messages.ClusterSummary) {
	m, a := sum.Master, sum.Agents
	fmt.Fprintf(w, "master %s at %s (http %s), epoch %d, version %s\n", m.GetId(), m.GetAddress(), m.GetHttpAddress(), m.GetEpoch(), m.GetVersion())
	fmt.Fprintf(w, "agents: %d reachable of %d (%d unreachable), %d draining, %d drained\n",
		a.GetReachable(), a.GetRegistered(), a.GetUnreachable(), a.GetDraining(), a.GetDrained())
	fmt.Fprintf(w, "tasks: %s\n\n", taskCounts(sum.Tasks))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tCAPACITY\tUSED\tOFFERED\tREVOCABLE USED")
	t := sum.Totals
	names := map[string]bool{}
	for _, rs := range [][]*messages.Resource{t.GetCapacity(), t.GetUsed(), t.GetOffered(), t.GetRevocable()} {
		for _, r := range rs {
			names[r.Name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		fmt.Fprintf(tw, "%s\t%g\t%g\t%g\t%g\n", name, messages.ScalarOf(t.GetCapacity(), name), messages.ScalarOf(t.GetUsed(), name),
			messages.ScalarOf(t.GetOffered(), name), messages.ScalarOf(t.GetRevocable(), name))
	}
	_ = tw.Flush()
	if len(sum.Frameworks) > 0 {
		fmt.Fprintln(w)
		printFrameworks(w, sum.Frameworks)
	}
}

// printAgents prints agents as a table.
func printAgents(w io.Writer, st *messages.MasterState, agents []*messages.AgentState) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT ID\tHOSTNAME\tSTATE\tDRAIN\tTASKS\tCPUS (USED)\tMEM MiB (USED)\tDISK MiB (USED)\tPORTS\tATTRIBUTES\tLAST SEEN")
	now := time.Unix(0, st.SnapshotUnixNano)
	for _, a := range agents {
		state := "reachable"
		if !a.Reachable {
			state = "UNREACHABLE"
		}
		ports := "-"
		for _, r := range a.Info.Resources {
			if r.Name == messages.Ports {
				ports = strings.TrimPrefix(messages.FormatResources([]*messages.Resource{r}), "ports:")
			}
		}
		attrs := messages.FormatAttributes(a.Info.Attributes)
		if attrs == "" {
			attrs = "-"
		}
		pair := func(name string) string {
			return fmt.Sprintf("%g (%g)", messages.ScalarOf(a.Info.Resources, name), messages.ScalarOf(a.Used, name))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s ago\n",
			a.Info.GetId().GetValue(), a.Info.Hostname, state, drainText(a.Drain, now), taskCounts(a.Tasks), pair(messages.CPUs), pair(messages.Mem), pair(messages.Disk),
			ports, attrs, now.Sub(time.Unix(0, a.LastSeenUnixNano)).Round(time.Second))
	}
	_ = tw.Flush()
}

// taskCounts writes tasks by state as RUNNING:2 STAGING:1 (as the web UI
// does), "-" for none.
func taskCounts[N uint32 | uint64](counts map[string]N) string {
	var parts []string
	for _, state := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s:%d", strings.TrimPrefix(state, "TASK_"), counts[state]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// drainText is an agent's drain for the agents table.
func drainText(d *messages.DrainInfo, now time.Time) string {
	switch d.GetState() {
	case messages.DrainInfo_DRAINING:
		left := time.Unix(0, d.DeadlineUnixNano).Sub(now).Round(time.Second)
		if left <= 0 {
			return "DRAINING (deadline passed)"
		}
		return fmt.Sprintf("DRAINING (kills in %s)", left)
	case messages.DrainInfo_DRAINED:
		return "DRAINED"
	}
	return "-"
}

// printFrameworks prints frameworks as a table.
func printFrameworks(w io.Writer, frameworks []*messages.FrameworkState) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FRAMEWORK ID\tNAME\tROLES\tSTATE\tTASKS\tUSED\tOFFERED")
	for _, f := range frameworks {
		state := "connected"
		switch {
		case f.TearingDown:
			state = "tearing down"
		case !f.Connected:
			state = "DISCONNECTED"
		}
		var tasks []string
		for s, n := range f.Tasks {
			tasks = append(tasks, fmt.Sprintf("%s:%d", strings.TrimPrefix(s, "TASK_"), n))
		}
		sort.Strings(tasks)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Info.GetId().GetValue(), f.Info.GetName(), strings.Join(f.Info.GetRoles(), ","),
			state, strings.Join(tasks, " "), messages.FormatResources(f.Used), messages.FormatResources(f.Offered))
	}
	_ = tw.Flush()
}
