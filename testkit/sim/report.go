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
	// Fairness is how much of its demand-capped weighted fair share each
	// role with demand held (1: every role all it was entitled to), and
	// Jain's index over their weighted dominant shares.
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

// RoleReport is one role's share of the cluster, what it was entitled to,
// and the offers its frameworks saw.
type RoleReport struct {
	Weight             float64 `json:"weight"`
	Frameworks         int     `json:"frameworks"`
	DominantShareMean  float64 `json:"dominant_share_mean"`
	DominantShareFinal float64 `json:"dominant_share_final"`
	// FairShareMean is the mean over the samples of the role's
	// demand-capped weighted fair share (0 while it has no demand).
	FairShareMean float64 `json:"fair_share_mean"`
	Offers        int     `json:"offers"`
	Declined      int     `json:"offers_declined"`
	Launched      int     `json:"tasks_launched"`
}

// Fairness over the samples with demand. ShareMet is the mean over the
// roles with demand of the fraction of its demand-capped weighted fair
// share (max-min water-filling, fairness.go) a role held, at most 1;
// ShareMetWorst the least of them. Both are means over the samples, and
// Final the last sample's. Jain is Jain's index over the roles' weighted
// dominant shares: 1 only when all hold the same share per weight, so
// lower whenever some role wants less than its weighted share.
type Fairness struct {
	ShareMetMean       float64 `json:"share_met_mean"`
	ShareMetWorstMean  float64 `json:"share_met_worst_mean"`
	ShareMetFinal      float64 `json:"share_met_final"`
	ShareMetWorstFinal float64 `json:"share_met_worst_final"`
	JainMean           float64 `json:"jain_mean"`
	JainFinal          float64 `json:"jain_final"`
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

// OfferReport counts offers as the frameworks saw them; PerLaunchedTask
// is offers received per task launched: the amplification of two-level
// scheduling (1 or less when every offer is used; a framework launches
// several tasks on one offer).
type OfferReport struct {
	Received        int     `json:"received"`
	PerSecond       float64 `json:"per_second"`
	PerLaunchedTask float64 `json:"per_launched_task"`
	Declined        int     `json:"declined"`
	Rescinded       int     `json:"rescinded"`
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
	ShareMet      []float64            `json:"share_met"`
	ShareMetWorst []float64            `json:"share_met_worst"`
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
		rr.FairShareMean = round(r.fairSums[f.role] / float64(max(r.samples, 1)))
		rr.Offers += f.offers
		rr.Declined += f.declines
		rr.Launched += f.launched
		if s := r.series.DominantShare[f.role]; len(s) > 0 {
			rr.DominantShareFinal = s[len(s)-1]
		}
		rep.Roles[f.role] = rr
	}
	if r.jainN > 0 {
		rep.Fairness.JainMean = round(r.jainSum / float64(r.jainN))
		rep.Fairness.ShareMetMean = round(r.metSum / float64(r.jainN))
		rep.Fairness.ShareMetWorstMean = round(r.worstSum / float64(r.jainN))
	}
	if n := len(r.series.Jain); n > 0 {
		rep.Fairness.JainFinal = r.series.Jain[n-1]
		rep.Fairness.ShareMetFinal = r.series.ShareMet[n-1]
		rep.Fairness.ShareMetWorstFinal = r.series.ShareMetWorst[n-1]
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
	if st.TasksLaunched > 0 {
		rep.Offers.PerLaunchedTask = round(float64(st.Offers) / float64(st.TasksLaunched))
	}
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
	fmt.Fprintln(tw, "ROLE\tWEIGHT\tFRAMEWORKS\tDOMINANT SHARE MEAN\tAT END\tFAIR SHARE MEAN\tOFFERS\tDECLINED\tOFFERS/TASK")
	for _, role := range slices.Sorted(maps.Keys(rep.Roles)) {
		rr := rep.Roles[role]
		fmt.Fprintf(tw, "%s\t%g\t%d\t%.1f%%\t%.1f%%\t%.1f%%\t%d\t%d\t%.2f\n", role, rr.Weight, rr.Frameworks, 100*rr.DominantShareMean, 100*rr.DominantShareFinal,
			100*rr.FairShareMean, rr.Offers, rr.Declined, float64(rr.Offers)/float64(max(rr.Launched, 1)))
	}
	tw.Flush()
	t := rep.Tasks
	fa := rep.Fairness
	fmt.Fprintf(w, "\nfairness (share of its demand-capped weighted fair share each role with demand held): mean %.3f, worst role %.3f; at end %.3f, worst %.3f\n",
		fa.ShareMetMean, fa.ShareMetWorstMean, fa.ShareMetFinal, fa.ShareMetWorstFinal)
	fmt.Fprintf(w, "Jain's index over weighted dominant shares: mean %.3f, at end %.3f\n", fa.JainMean, fa.JainFinal)
	fmt.Fprintf(w, "tasks: %d submitted, %d launched (%.1f/s), %d finished, %d lost, %d preempted; %d running and %d pending at the end\n",
		t.Submitted, t.Launched, t.LaunchedPerSecond, t.Finished, t.Lost, t.Preempted, t.Running, t.Pending)
	if t.LaunchesLost > 0 {
		fmt.Fprintf(w, "launches that never reached an agent (sent to a crashed master, or refused), run again: %d\n", t.LaunchesLost)
	}
	fmt.Fprintf(w, "task wait (submitted to RUNNING): p50 %.3fs, p99 %.3fs, max %.3fs\n", t.WaitP50, t.WaitP99, t.WaitMax)
	fmt.Fprintf(w, "jobs: %d submitted, %d finished; gang waves started: %d\n", rep.Jobs.Submitted, rep.Jobs.Finished, rep.Jobs.GangsStarted)
	fmt.Fprintf(w, "offers: %d (%.1f/s), %d declined, %d rescinded; %.2f offers per launched task\n", rep.Offers.Received, rep.Offers.PerSecond,
		rep.Offers.Declined, rep.Offers.Rescinded, rep.Offers.PerLaunchedTask)
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
