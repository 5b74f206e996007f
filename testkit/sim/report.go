package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a simulation measured. On the virtual clock it is a
// function of the workload and its seed alone: it holds no wall-clock time.
type Report struct {
	Name       string  `json:"name"`
	Seed       uint64  `json:"seed"`
	Clock      string  `json:"clock"`
	Allocator  string  `json:"allocator"`
	Duration   Seconds `json:"duration_seconds"`
	Agents     int     `json:"agents"`
	Frameworks int     `json:"frameworks"`
	// Resources: the cluster's total of each, and how much of it tasks
	// held (mean and peak over the samples).
	Resources map[string]ResourceReport `json:"resources"`
	// Roles: each role's dominant share (mean over the samples, and at
	// the end).
	Roles map[string]RoleReport `json:"roles"`
	// Fairness is Jain's index over the weighted dominant shares of the
	// roles with demand: 1 is perfectly fair, 1/n is one role holding all.
	Fairness Fairness    `json:"fairness"`
	Tasks    TaskReport  `json:"tasks"`
	Jobs     JobReport   `json:"jobs"`
	Offers   OfferReport `json:"offers"`
	Faults   FaultReport `json:"faults"`
	Series   Series      `json:"series"`
}

// ResourceReport is one resource's total and utilization.
type ResourceReport struct {
	Total           float64 `json:"total"`
	UtilizationMean float64 `json:"utilization_mean"`
	UtilizationPeak float64 `json:"utilization_peak"`
}

// RoleReport is one role's share of the cluster.
type RoleReport struct {
	Weight             float64 `json:"weight"`
	Frameworks         int     `json:"frameworks"`
	DominantShareMean  float64 `json:"dominant_share_mean"`
	DominantShareFinal float64 `json:"dominant_share_final"`
}

// Fairness is Jain's index, mean over the samples with demand, and last.
type Fairness struct {
	JainMean  float64 `json:"jain_mean"`
	JainFinal float64 `json:"jain_final"`
}

// TaskReport counts tasks; a task that is run again (lost, preempted)
// counts once submitted and once more launched. Wait is from submission
// (its job's or wave's arrival, or its resubmission) to TASK_RUNNING.
type TaskReport struct {
	Submitted         int            `json:"submitted"`
	Launched          int            `json:"launched"`
	LaunchedPerSecond float64        `json:"launched_per_second"`
	Finished          int            `json:"finished"`
	Lost              int            `json:"lost"`
	LaunchesLost      int            `json:"launches_lost"`
	Preempted         int            `json:"preempted"`
	Unreachable       int            `json:"unreachable_updates"`
	Running           int            `json:"running_at_end"`
	Pending           int            `json:"pending_at_end"`
	WaitP50           Seconds        `json:"wait_p50_seconds"`
	WaitP99           Seconds        `json:"wait_p99_seconds"`
	WaitMax           Seconds        `json:"wait_max_seconds"`
	Ended             map[string]int `json:"ended"`
}

// JobReport counts jobs (a gang's start counts once per wave).
type JobReport struct {
	Submitted    int `json:"submitted"`
	Finished     int `json:"finished"`
	GangsStarted int `json:"gang_waves_started"`
}

// OfferReport counts offers as the frameworks saw them.
type OfferReport struct {
	Received  int     `json:"received"`
	PerSecond float64 `json:"per_second"`
	Declined  int     `json:"declined"`
	Rescinded int     `json:"rescinded"`
}

// FaultReport is what the fault timeline did, and how the cluster took it.
type FaultReport struct {
	Failovers               []Failover `json:"failovers"`
	AgentsPartitioned       int        `json:"agents_partitioned"`
	AgentsRebooted          int        `json:"agents_rebooted"`
	SchedulerCrashes        int        `json:"scheduler_crashes"`
	MessagesDropped         int64      `json:"messages_dropped"`
	MessagesDelayed         int64      `json:"messages_delayed"`
	AgentsMarkedUnreachable int        `json:"agents_marked_unreachable"`
	AgentAdmissions         int        `json:"agent_admissions"`
}

// Failover is one leader crash: when, how long the cluster had no leader,
// and how long until the new leader's first offer reached a framework
// (from the crash; 0 if none did before the next crash or the end).
type Failover struct {
	At              Seconds `json:"at_seconds"`
	Epoch           uint64  `json:"epoch"`
	LeaderAfter     Seconds `json:"leader_after_seconds"`
	FirstOfferAfter Seconds `json:"first_offer_after_seconds"`
	at              time.Time
}

// Series are the samples over time: T in seconds from the start, the
// others one value per T.
type Series struct {
	T             []Seconds            `json:"t"`
	Utilization   map[string][]float64 `json:"utilization"`
	DominantShare map[string][]float64 `json:"dominant_share"`
	Jain          []float64            `json:"jain"`
}

// Counters are the events the frameworks and faults count as it runs.
type Counters struct {
	JobsSubmitted, JobsFinished, GangsStarted    int
	TasksSubmitted, TasksLaunched, TasksFinished int
	Lost, Preempted, Unreachable, LaunchesLost   int
	Offers, Declines, Rescinds                   int
	Partitions, Reboots, SchedulerCrashes        int
}

// Seconds is a duration in seconds, to the millisecond.
type Seconds float64

// SecondsOf converts d.
func SecondsOf(d time.Duration) Seconds { return Seconds(math.Round(d.Seconds()*1000) / 1000) }

func round(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func (r *run) report() *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	secs := r.w.Duration.D().Seconds()
	rep := &Report{Name: r.w.Name, Seed: r.w.Seed, Clock: r.w.Clock, Allocator: r.w.Master.Allocator, Duration: SecondsOf(r.w.Duration.D()),
		Agents: len(r.agents), Frameworks: len(r.frameworks), Resources: map[string]ResourceReport{}, Roles: map[string]RoleReport{},
		Series: r.series}
	for res, total := range r.total {
		rep.Resources[res] = ResourceReport{Total: total, UtilizationMean: round(r.utilSums[res] / float64(max(r.samples, 1))),
			UtilizationPeak: slices.Max(append([]float64{0}, r.series.Utilization[res]...))}
	}
	for _, f := range r.frameworks {
		rr := rep.Roles[f.role]
		rr.Weight = r.weight(f.role)
		rr.Frameworks++
		rr.DominantShareMean = round(r.shareSums[f.role] / float64(max(r.samples, 1)))
		if s := r.series.DominantShare[f.role]; len(s) > 0 {
			rr.DominantShareFinal = s[len(s)-1]
		}
		rep.Roles[f.role] = rr
	}
	if r.jainN > 0 {
		rep.Fairness.JainMean = round(r.jainSum / float64(r.jainN))
	}
	if n := len(r.series.Jain); n > 0 {
		rep.Fairness.JainFinal = r.series.Jain[n-1]
	}
	st := r.stats
	waits := slices.Clone(r.waits)
	slices.Sort(waits)
	running, pending := 0, 0
	for _, f := range r.frameworks {
		running += len(f.live)
		pending += len(f.pending)
	}
	rep.Tasks = TaskReport{Submitted: st.TasksSubmitted, Launched: st.TasksLaunched, LaunchedPerSecond: round(float64(st.TasksLaunched) / secs),
		Finished: st.TasksFinished, Lost: st.Lost, LaunchesLost: st.LaunchesLost, Preempted: st.Preempted, Unreachable: st.Unreachable, Running: running, Pending: pending,
		WaitP50: SecondsOf(quantile(waits, 0.5)), WaitP99: SecondsOf(quantile(waits, 0.99)), WaitMax: SecondsOf(quantile(waits, 1)), Ended: r.ended}
	rep.Jobs = JobReport{Submitted: st.JobsSubmitted, Finished: st.JobsFinished, GangsStarted: st.GangsStarted}
	rep.Offers = OfferReport{Received: st.Offers, PerSecond: round(float64(st.Offers) / secs), Declined: st.Declines, Rescinded: st.Rescinds}
	fo := slices.Clone(r.failovers)
	if r.open != nil {
		fo = append(fo, *r.open)
	}
	rep.Faults = FaultReport{Failovers: fo, AgentsPartitioned: st.Partitions, AgentsRebooted: st.Reboots, SchedulerCrashes: st.SchedulerCrashes,
		MessagesDropped: r.dropped.Load(), MessagesDelayed: r.delayed.Load(), AgentsMarkedUnreachable: r.unreached, AgentAdmissions: r.admitted}
	return rep
}

// quantile of sorted xs (nearest rank); 0 for none.
func quantile(xs []time.Duration, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// WriteJSON writes the report, indented, to path.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Print writes the report's summary for people.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%s: %d agents, %d frameworks, %v simulated (%s clock, seed %d, %s allocator)\n\n", rep.Name, rep.Agents, rep.Frameworks,
		time.Duration(float64(rep.Duration)*float64(time.Second)), rep.Clock, rep.Seed, rep.Allocator)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tTOTAL\tUTILIZATION MEAN\tPEAK")
	for _, res := range slices.Sorted(maps.Keys(rep.Resources)) {
		rr := rep.Resources[res]
		fmt.Fprintf(tw, "%s\t%s\t%.1f%%\t%.1f%%\n", res, strconv.FormatFloat(rr.Total, 'f', -1, 64), 100*rr.UtilizationMean, 100*rr.UtilizationPeak)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "ROLE\tWEIGHT\tFRAMEWORKS\tDOMINANT SHARE MEAN\tAT END")
	for _, role := range slices.Sorted(maps.Keys(rep.Roles)) {
		rr := rep.Roles[role]
		fmt.Fprintf(tw, "%s\t%g\t%d\t%.1f%%\t%.1f%%\n", role, rr.Weight, rr.Frameworks, 100*rr.DominantShareMean, 100*rr.DominantShareFinal)
	}
	tw.Flush()
	t := rep.Tasks
	fmt.Fprintf(w, "\nfairness (Jain's index over weighted dominant shares): mean %.3f, at end %.3f\n", rep.Fairness.JainMean, rep.Fairness.JainFinal)
	fmt.Fprintf(w, "tasks: %d submitted, %d launched (%.1f/s), %d finished, %d lost, %d preempted; %d running and %d pending at the end\n",
		t.Submitted, t.Launched, t.LaunchedPerSecond, t.Finished, t.Lost, t.Preempted, t.Running, t.Pending)
	if t.LaunchesLost > 0 {
		fmt.Fprintf(w, "launches that never reached an agent (sent to a crashed master, or refused), run again: %d\n", t.LaunchesLost)
	}
	fmt.Fprintf(w, "task wait (submitted to RUNNING): p50 %.3fs, p99 %.3fs, max %.3fs\n", t.WaitP50, t.WaitP99, t.WaitMax)
	fmt.Fprintf(w, "jobs: %d submitted, %d finished; gang waves started: %d\n", rep.Jobs.Submitted, rep.Jobs.Finished, rep.Jobs.GangsStarted)
	fmt.Fprintf(w, "offers: %d (%.1f/s), %d declined, %d rescinded\n", rep.Offers.Received, rep.Offers.PerSecond, rep.Offers.Declined, rep.Offers.Rescinded)
	f := rep.Faults
	if n := len(f.Failovers); n > 0 {
		after := make([]float64, n)
		for i, fo := range f.Failovers {
			after[i] = float64(fo.FirstOfferAfter)
		}
		slices.Sort(after)
		fmt.Fprintf(w, "failovers: %d; crash to the new leader's first offer: min %.3fs, median %.3fs, max %.3fs (each in the report)\n",
			n, after[0], after[n/2], after[n-1])
	}
	var faults []string
	for _, c := range []struct {
		n    int64
		what string
	}{
		{int64(f.AgentsPartitioned), "agents partitioned"}, {int64(f.AgentsRebooted), "agents rebooted"},
		{int64(f.SchedulerCrashes), "scheduler crashes"}, {f.MessagesDropped, "messages dropped"},
		{f.MessagesDelayed, "messages delayed"}, {int64(f.AgentsMarkedUnreachable), "agents marked unreachable"},
	} {
		if c.n > 0 {
			faults = append(faults, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if len(faults) > 0 {
		fmt.Fprintf(w, "faults: %s\n", strings.Join(faults, ", "))
	}
}
