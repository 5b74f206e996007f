package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Issue 16 asks that a normal demo run logs no ERROR line: operators alert
// on errors, so a healthy cluster must not print any. This runs `make
// demo`'s command (agora dev --demo: free ports, a task through the offer
// loop, then exit) in its own work directory.
func TestDemoLogsNoError(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	cmd := exec.Command(agoraBin, "dev", "--demo", "--work-dir", workDir(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("agora dev --demo: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Demo done") || !strings.Contains(string(out), "TASK_FINISHED") {
		t.Fatalf("the demo did not run its task to the end:\n%s", out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("the demo logged an error: %s", line)
		}
	}
}
