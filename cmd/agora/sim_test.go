package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `agora sim` runs a shipped scenario (shortened) and writes what it says.
func TestSimCommand(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(agoraBin, "sim", "../../testkit/scenarios/failover-storm.yaml", "--duration", "4m", "--out", out, "--plot", "png")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("agora sim: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"failover-storm: 50 agents, 7 frameworks, 4m0s simulated (virtual clock, seed 1, drf allocator)", "failovers: 2; crash to the new leader's first offer: min 3.", "0 lost", "peak memory"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "sim: 100%") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}
	var rep struct {
		Faults struct {
			Failovers []struct {
				FirstOfferAfter float64 `json:"first_offer_after_seconds"`
			} `json:"failovers"`
		} `json:"faults"`
	}
	b, err := os.ReadFile(filepath.Join(out, "failover-storm.json"))
	if err != nil || json.Unmarshal(b, &rep) != nil || len(rep.Faults.Failovers) != 2 {
		t.Fatalf("report: %v %s", err, b)
	}
	if st, err := os.Stat(filepath.Join(out, "failover-storm.png")); err != nil || st.Size() == 0 {
		t.Fatalf("plot: %v", err)
	}
}

// A bad workload stops `agora sim` with the field at fault.
func TestSimCommandRefusesBadWorkload(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("duration: 1m\nagents: [{count: 1, resources: \"cpus:1\"}]\nframeworks: [{name: f, task: \"cpus:1\", tasks: 0}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(agoraBin, "sim", bad, "--out", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "frameworks[0].tasks: must be positive") {
		t.Fatalf("want a refusal naming frameworks[0].tasks, got %v:\n%s", err, out)
	}
}

// A GC target below 1 % is refused, saying how to turn the collector off.
func TestSimCommandRefusesBadGOGC(t *testing.T) {
	out, err := exec.Command(agoraBin, "sim", "../../testkit/scenarios/failover-storm.yaml", "--gogc", "0", "--out", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--gogc 0: the target must be at least 1") {
		t.Fatalf("want a refusal of --gogc 0, got %v:\n%s", err, out)
	}
}
