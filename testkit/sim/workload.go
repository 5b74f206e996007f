package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"sigs.k8s.io/yaml"
)

// Workload is a simulation: the cluster, the frameworks that use it and a
// timeline of faults. It is read from YAML or JSON (Load); the field names
// below are the file's keys, documented in docs/simulation.md.
type Workload struct {
	// Name labels the report.
	Name string `json:"name"`
	// Seed makes a virtual-clock run reproducible: the same seed, the
	// same report.
	Seed uint64 `json:"seed"`
	// Duration is how long the cluster runs (simulated time).
	Duration Duration `json:"duration"`
	// Clock is "virtual" (default: simulated time, as fast as the
	// machine allows, reproducible) or "real" (wall-clock time).
	Clock string `json:"clock"`
	// Sample is how often utilization and shares are recorded; default
	// a 200th of Duration, at least a second.
	Sample Duration   `json:"sample"`
	Master MasterSpec `json:"master"`
	// Network is what messages between nodes cost in simulated time.
	Network NetworkSpec `json:"network"`
	// Agents are groups of identical agents.
	Agents []AgentGroup `json:"agents"`
	// Roles configure weights and guarantees; roles frameworks use but
	// that are not listed here have weight 1 and no quota.
	Roles      []RoleSpec      `json:"roles"`
	Frameworks []FrameworkSpec `json:"frameworks"`
	Faults     []FaultSpec     `json:"faults"`
}

// MasterSpec tunes the master; zero fields take Agora's defaults.
type MasterSpec struct {
	// Allocator is the allocation policy (agora node --allocator):
	// "drf" (default), "binpack" or "spread", to compare them.
	Allocator          string   `json:"allocator"`
	AllocationInterval Duration `json:"allocation_interval"`
	OfferTimeout       Duration `json:"offer_timeout"`
	// ReclaimInterval turns on preemption for roles below their
	// guarantee; PreemptionGrace is the notice a preempted task gets.
	ReclaimInterval Duration `json:"reclaim_interval"`
	PreemptionGrace Duration `json:"preemption_grace"`
	// AgentReregisterTimeout is a new leader's re-registration window.
	AgentReregisterTimeout Duration `json:"agent_reregister_timeout"`
}

// NetworkSpec models the network between nodes (agents, schedulers, the
// master).
type NetworkSpec struct {
	// Latency is added to every message from one node to another
	// (one way); 0, the default, costs none. It is fixed, so what one
	// node sends another arrives in order, as on a TCP connection.
	Latency Duration `json:"latency"`
}

// AgentGroup is Count agents offering Resources (Mesos syntax, such as
// "cpus:16;mem:65536"), with attributes.
type AgentGroup struct {
	Count      int               `json:"count"`
	Resources  string            `json:"resources"`
	Attributes map[string]string `json:"attributes"`
}

// RoleSpec is a role's weight and guarantee (resources, Mesos syntax).
type RoleSpec struct {
	Name      string  `json:"name"`
	Weight    float64 `json:"weight"`
	Guarantee string  `json:"guarantee"`
	Limit     string  `json:"limit"`
}

// FrameworkSpec is Count frameworks (named Name-1..Name-Count when Count
// > 1) that submit jobs to Role.
type FrameworkSpec struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Role  string `json:"role"`
	// Kind is "elastic" (launches what fits as offers come: batch, web)
	// or "gang" (MPI-like: a job's tasks start all at once or not at
	// all, from offers it holds until they suffice).
	Kind string `json:"kind"`
	// Task is each task's resources (Mesos syntax).
	Task string `json:"task"`
	// Tasks per job; Waves > 1 makes an iterative job (each wave of
	// Tasks starts when the previous one finished, as a Spark stage).
	Tasks int `json:"tasks"`
	Waves int `json:"waves"`
	// Arrival is when jobs are submitted.
	Arrival ArrivalSpec `json:"arrival"`
	// Duration is how long each task runs.
	Duration DistSpec `json:"duration"`
	// Refuse is how long declined offers stay filtered; default 5 s.
	Refuse Duration `json:"refuse"`
	// Hold is how long a gang framework hoards offers waiting for enough
	// of them (as MPI frameworks on Mesos do), give or take half; default
	// 20 s, under the master's offer timeout.
	Hold Duration `json:"hold"`
	// NoHints: the framework says neither the smallest offer it can use
	// (FrameworkInfo.min_allocatable: one task) nor, when it revives, what
	// it is waiting for (Revive.demand: its pending tasks), as a
	// framework written for plain Mesos offers. Each revive then brings
	// it every free agent it is first in line for.
	NoHints bool `json:"no_hints"`
}

// ArrivalSpec is a framework's job arrival process.
type ArrivalSpec struct {
	// Process: "once" (every job at Start), "fixed" (one per Every) or
	// "poisson" (exponential gaps of mean Every).
	Process string   `json:"process"`
	Every   Duration `json:"every"`
	// Start delays the first job; Jobs bounds how many (0: until the
	// simulation ends; "once" needs it, default 1).
	Start Duration `json:"start"`
	Jobs  int      `json:"jobs"`
}

// DistSpec is a distribution of durations: "constant" (Mean),
// "exponential" (Mean), "uniform" (Min..Max) or "lognormal" (median Mean,
// shape Sigma). Max, when set, caps every draw.
type DistSpec struct {
	Dist  string   `json:"dist"`
	Mean  Duration `json:"mean"`
	Min   Duration `json:"min"`
	Max   Duration `json:"max"`
	Sigma float64  `json:"sigma"`
}

// FaultSpec is one fault, or a series of them (Every, Count).
type FaultSpec struct {
	// Kind: "master-failover" (the leader crashes; a standby leads after
	// Election), "partition-agents" (Agents agents cut off both ways
	// for For), "reboot-agents" (Agents agents stop, their tasks with
	// them, and come back after For), "crash-scheduler" (Framework's
	// scheduler stops and fails over to a new one after For),
	// "drop-messages" / "delay-messages" (Fraction of the messages From
	// sends, to To and of type Message if set, are lost / arrive Delay
	// late, for For).
	Kind  string   `json:"kind"`
	At    Duration `json:"at"`
	Every Duration `json:"every"`
	Count int      `json:"count"`
	// Election is how long the cluster has no leader (default 3 s: the
	// Consul session TTL plus lock delay of `agora node`).
	Election  Duration `json:"election"`
	Agents    int      `json:"agents"`
	For       Duration `json:"for"`
	Framework string   `json:"framework"`
	// From is "agents", "schedulers" or "master" (with its handlers);
	// To, if set, narrows the fault to messages sent to one of them.
	From     string   `json:"from"`
	To       string   `json:"to"`
	Message  string   `json:"message"`
	Fraction float64  `json:"fraction"`
	Delay    Duration `json:"delay"`
}

// Duration is a time.Duration written as "90s" or "1h30m" (or a number
// of seconds) in workload files.
type Duration time.Duration

// UnmarshalJSON reads "90s" or 90.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (such as 90s or 1h30m)", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("%s is not a duration (such as \"90s\" or a number of seconds)", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as "90s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Limits of one simulation: what fits in a process comfortably.
const (
	MaxAgents = 200_000
	MaxTasks  = 20_000_000 // per framework spec, drawn up front
)

// Load reads and checks a workload file (YAML or JSON).
func Load(path string) (*Workload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read workload: %w", err)
	}
	w, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// Parse reads and checks a workload (YAML or JSON). Unknown keys are
// errors: a misspelt key would otherwise silently take its default.
func Parse(b []byte) (*Workload, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var w Workload
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	return &w, nil
}

// check validates the workload and fills in defaults.
func (w *Workload) check() error {
	if w.Duration <= 0 {
		return fmt.Errorf("duration: must be positive (such as 10m)")
	}
	switch w.Clock {
	case "":
		w.Clock = "virtual"
	case "virtual", "real":
	default:
		return fmt.Errorf("clock: %q is neither virtual nor real", w.Clock)
	}
	if w.Sample <= 0 {
		w.Sample = Duration(max(time.Second, w.Duration.D()/200))
	}
	if w.Duration/w.Sample > 100_000 {
		return fmt.Errorf("sample: %v makes %d samples of %v; at most 100,000 fit in a report", w.Sample.D(), w.Duration/w.Sample, w.Duration.D())
	}
	if w.Network.Latency < 0 {
		return fmt.Errorf("network.latency: must not be negative")
	}
	if w.Master.Allocator == "" {
		w.Master.Allocator = "drf"
	}
	if !slices.Contains(policy.Names(), w.Master.Allocator) {
		return fmt.Errorf("master.allocator: %q is not one of %s", w.Master.Allocator, strings.Join(policy.Names(), ", "))
	}
	if len(w.Agents) == 0 {
		return fmt.Errorf("agents: at least one group is needed")
	}
	agents := 0
	for i, g := range w.Agents {
		if g.Count <= 0 {
			return fmt.Errorf("agents[%d].count: must be positive", i)
		}
		if agents += g.Count; agents > MaxAgents {
			return fmt.Errorf("agents: more than %d in total; one process holds about 10 KiB per agent", MaxAgents)
		}
		if _, err := messages.ParseResources(g.Resources); err != nil || g.Resources == "" {
			return fmt.Errorf("agents[%d].resources: %q: want Mesos syntax such as \"cpus:8;mem:16384\"", i, g.Resources)
		}
	}
	for i, r := range w.Roles {
		if r.Name == "" {
			return fmt.Errorf("roles[%d].name: missing", i)
		}
		if r.Weight < 0 {
			return fmt.Errorf("roles[%d].weight: must not be negative", i)
		}
		for _, q := range []string{r.Guarantee, r.Limit} {
			if _, err := messages.ParseResources(q); err != nil {
				return fmt.Errorf("roles[%d]: %q: %v", i, q, err)
			}
		}
	}
	if len(w.Frameworks) == 0 {
		return fmt.Errorf("frameworks: at least one is needed")
	}
	names := map[string]bool{}
	for i := range w.Frameworks {
		f := &w.Frameworks[i]
		at := fmt.Sprintf("frameworks[%d]", i)
		if f.Name == "" || strings.ContainsAny(f.Name, "/ ") {
			return fmt.Errorf("%s.name: %q: want a name without spaces or slashes", at, f.Name)
		}
		if names[f.Name] {
			return fmt.Errorf("%s.name: %q is used twice", at, f.Name)
		}
		names[f.Name] = true
		if f.Count == 0 {
			f.Count = 1
		}
		if f.Count < 0 {
			return fmt.Errorf("%s.count: must be positive", at)
		}
		if f.Role == "" {
			f.Role = "*"
		}
		switch f.Kind {
		case "":
			f.Kind = "elastic"
		case "elastic", "gang":
		default:
			return fmt.Errorf("%s.kind: %q is neither elastic nor gang", at, f.Kind)
		}
		shape, err := messages.ParseResources(f.Task)
		if err != nil || len(shape) == 0 {
			return fmt.Errorf("%s.task: %q: want Mesos syntax such as \"cpus:1;mem:1024\"", at, f.Task)
		}
		for _, r := range shape {
			if len(r.Ranges) > 0 || r.Scalar <= 0 {
				return fmt.Errorf("%s.task: %s: simulated tasks ask for positive scalars only (cpus, mem, disk, gpus)", at, r.Name)
			}
		}
		if f.Tasks <= 0 {
			return fmt.Errorf("%s.tasks: must be positive (tasks per job)", at)
		}
		if f.Waves == 0 {
			f.Waves = 1
		}
		if f.Waves < 0 {
			return fmt.Errorf("%s.waves: must be positive", at)
		}
		if f.Refuse <= 0 {
			f.Refuse = Duration(5 * time.Second)
		}
		if f.Hold <= 0 {
			f.Hold = Duration(20 * time.Second)
		}
		switch f.Arrival.Process {
		case "", "once":
			f.Arrival.Process = "once"
			if f.Arrival.Jobs == 0 {
				f.Arrival.Jobs = 1
			}
		case "fixed", "poisson":
			if f.Arrival.Every <= 0 {
				return fmt.Errorf("%s.arrival.every: must be positive for a %s process", at, f.Arrival.Process)
			}
		default:
			return fmt.Errorf("%s.arrival.process: %q is not once, fixed or poisson", at, f.Arrival.Process)
		}
		if err := f.Duration.check(); err != nil {
			return fmt.Errorf("%s.duration: %w", at, err)
		}
		// Every job's run times are drawn up front: bound them.
		jobs := float64(f.Arrival.Jobs)
		if f.Arrival.Process != "once" {
			expected := float64(w.Duration-f.Arrival.Start) / float64(f.Arrival.Every)
			if jobs == 0 || expected < jobs {
				jobs = expected
			}
		}
		if tasks := jobs * float64(f.Count*f.Tasks*f.Waves); tasks > MaxTasks {
			return fmt.Errorf("%s: about %.0f tasks over the run; at most %d (fewer jobs, tasks or waves, or a shorter duration)", at, tasks, MaxTasks)
		}
	}
	instances := map[string]bool{} // the frameworks' names as they run
	for _, f := range w.Frameworks {
		for k := 1; k <= f.Count; k++ {
			instances[f.Instance(k)] = true
		}
	}
	for i := range w.Faults {
		f := &w.Faults[i]
		at := fmt.Sprintf("faults[%d]", i)
		if f.Count == 0 {
			f.Count = 1
		}
		if f.Count > 1 && f.Every <= 0 {
			return fmt.Errorf("%s.every: a series of %d faults needs a positive interval", at, f.Count)
		}
		switch f.Kind {
		case "master-failover":
			if f.Election <= 0 {
				f.Election = Duration(3 * time.Second)
			}
		case "partition-agents", "reboot-agents":
			if f.Agents <= 0 || f.For <= 0 {
				return fmt.Errorf("%s: %s needs agents and for", at, f.Kind)
			}
		case "crash-scheduler":
			if !instances[f.Framework] {
				return fmt.Errorf("%s.framework: %q is not a framework of this workload (a spec with count n runs NAME-1 .. NAME-n)", at, f.Framework)
			}
			if f.For <= 0 {
				return fmt.Errorf("%s.for: how long the scheduler is down must be positive", at)
			}
		case "drop-messages", "delay-messages":
			switch f.From {
			case "agents", "schedulers", "master":
			default:
				return fmt.Errorf("%s.from: %q is not agents, schedulers or master", at, f.From)
			}
			switch f.To {
			case "", "agents", "schedulers", "master":
			default:
				return fmt.Errorf("%s.to: %q is not agents, schedulers or master", at, f.To)
			}
			if f.Fraction <= 0 || f.Fraction > 1 {
				return fmt.Errorf("%s.fraction: must be in (0, 1]", at)
			}
			if f.Kind == "delay-messages" && f.Delay <= 0 {
				return fmt.Errorf("%s.delay: must be positive", at)
			}
			if f.For <= 0 {
				f.For = w.Duration
			}
		default:
			return fmt.Errorf("%s.kind: %q is not master-failover, partition-agents, reboot-agents, crash-scheduler, drop-messages or delay-messages", at, f.Kind)
		}
	}
	return nil
}

func (d *DistSpec) check() error {
	switch d.Dist {
	case "", "constant", "exponential":
		if d.Dist == "" {
			d.Dist = "constant"
		}
		if d.Mean <= 0 {
			return fmt.Errorf("mean: must be positive")
		}
	case "uniform":
		if d.Min <= 0 || d.Max < d.Min {
			return fmt.Errorf("uniform needs 0 < min <= max")
		}
	case "lognormal":
		if d.Mean <= 0 || d.Sigma <= 0 {
			return fmt.Errorf("lognormal needs mean (the median) and sigma")
		}
	default:
		return fmt.Errorf("dist: %q is not constant, exponential, uniform or lognormal", d.Dist)
	}
	return nil
}

// Instance is the name of the k-th (from 1) framework of the spec: the
// spec's name when it has one, NAME-k when it has several.
func (f *FrameworkSpec) Instance(k int) string {
	if f.Count > 1 {
		return fmt.Sprintf("%s-%d", f.Name, k)
	}
	return f.Name
}
