package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/agora-sched/agora/testkit/sim"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

type simCmd struct {
	File       string        `arg:"" type:"existingfile" help:"Workload file, YAML or JSON (see docs/simulation.md and testkit/scenarios/)."`
	Out        string        `default:"." help:"Directory to write the report (NAME.json) and the plot (NAME.svg or .png) to."`
	Plot       string        `enum:"svg,png" default:"svg" help:"Format of the plot: svg or png."`
	Seed       *uint64       `help:"Use this seed instead of the workload's."`
	Duration   time.Duration `help:"Simulate this long instead of the workload's duration."`
	Clock      string        `enum:",virtual,real" default:"" help:"virtual (simulated time, reproducible) or real (wall-clock); default: the workload's."`
	Progress   bool          `default:"true" negatable:"" help:"Show progress on stderr."`
	Logs       bool          `help:"Print Agora's own logs (at --log-level) on stderr."`
	CPUProfile string        `name:"cpu-profile" type:"path" help:"Write a Go CPU profile of the run to this file (go tool pprof)."`
	GOGC       int           `name:"gogc" default:"400" help:"The garbage collector's target for the run (GOGC: how much the heap may grow between collections, in percent of what was live); a GOGC environment variable wins. 100 is Go's default: lower uses less memory and more CPU."`
}

func (c *simCmd) Run(logger *slog.Logger) error {
	if c.GOGC < 1 {
		return fmt.Errorf("--gogc %d: the target must be at least 1 (percent); GOGC=off in the environment turns the collector off", c.GOGC)
	}
	w, err := sim.Load(c.File)
	if err != nil {
		return err
	}
	if c.Seed != nil {
		w.Seed = *c.Seed
	}
	if c.Duration > 0 {
		w.Duration = sim.Duration(c.Duration)
	}
	if c.Clock != "" {
		w.Clock = c.Clock
	}
	if w.Name == "" {
		w.Name = trimExt(filepath.Base(c.File))
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	opts := sim.Options{}
	if c.Logs {
		opts.Logger = logger
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		// A simulation is a batch job whose live heap (100,000 tasks'
		// books) is large and long-lived: at Go's default the collector
		// marked it again every few hundred megabytes allocated: a fifth of
		// the 10,000-agent scenario's CPU, and 400 the best of 100-800
		// (docs/benchmarks.md).
		debug.SetGCPercent(c.GOGC)
	}
	start := time.Now()
	if c.Progress {
		opts.Progress = progress(w)
	}
	rep, err := sim.Run(w, opts)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	rep.Print(os.Stdout)
	jsonPath := filepath.Join(c.Out, w.Name+".json")
	plotPath := filepath.Join(c.Out, w.Name+"."+c.Plot)
	if err := rep.WriteJSON(jsonPath); err != nil {
		return err
	}
	if err := rep.WritePlot(plotPath); err != nil {
		return err
	}
	fmt.Printf("\nreport %s, plot %s\n", jsonPath, plotPath)
	// Not in the report: it must depend on the workload and seed alone.
	fmt.Printf("took %v of wall-clock time; peak memory (max RSS) %d MiB\n", wall.Round(time.Millisecond), peakRSS()>>20)
	return nil
}

// progress shows simulated time done as a bar on a terminal, and as a line
// every tenth otherwise (CI logs).
func progress(w *sim.Workload) func(done, total time.Duration) {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		bar := progressbar.NewOptions64(int64(w.Duration.D().Seconds()),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("simulating %s (%s clock)", w.Name, w.Clock)),
			progressbar.OptionSetItsString("simulated s"),
			progressbar.OptionShowIts(),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		return func(done, _ time.Duration) { _ = bar.Set64(int64(done.Seconds())) }
	}
	next := 0
	return func(done, total time.Duration) {
		if pct := int(100 * done / total); pct >= next {
			fmt.Fprintf(os.Stderr, "sim: %3d%% (%v of %v simulated)\n", pct, done.Round(time.Second), total)
			next = pct - pct%10 + 10
		}
	}
}

// peakRSS is the process's maximum resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss << 10 // kilobytes on Linux
}

func trimExt(name string) string { return name[:len(name)-len(filepath.Ext(name))] }
