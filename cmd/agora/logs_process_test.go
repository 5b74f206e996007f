package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// Issue 16: an operator with only a principal and secret from the master's
// --credentials (no certificate) reads a task's output with agora logs,
// through the master, which checks the credentials (an agent knows only
// certificates); -f follows it until the task ends. Without credentials,
// or with a wrong secret, it is refused and told what to give.
func TestLogsWithCredentialsOnATLSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := t.TempDir()
	credFile := filepath.Join(dir, "credentials.json")
	if err := os.WriteFile(credFile, []byte(`{"credentials": [{"principal": "ops", "secret": "ops-secret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, info := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms", "--credentials", credFile)
	startNode(t, "agent", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", info.Remoting,
		"--work-dir", workDir(t), "--resources", "cpus:2;mem:512", "--isolation", "none", "--tls-dir", agentDir(t, "a1"))
	waitState(t, info.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	// The operator's machine: the cluster's CA, no certificate of its own.
	caOnly := filepath.Join(dir, "operator-tls")
	if err := os.MkdirAll(caOnly, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(operator.Files().CA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(caOnly, "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AGORA_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AGORA_TLS_DIR="+caOnly, "AGORA_MASTER_HTTP="+info.HTTP)
	logs := func(extraEnv []string, args ...string) *exec.Cmd {
		cmd := exec.Command(agoraBin, append([]string{"logs"}, args...)...)
		cmd.Env = append(append([]string{}, env...), extraEnv...)
		return cmd
	}

	// A task that writes a line, waits for the test, writes another, ends.
	gate := filepath.Join(searchable(t), "go-on")
	run := startProc(t, "run", "run", "--master", info.Remoting, "--name", "logs-creds", "--timeout", "60s", "--",
		"sh", "-c", "echo first-line; while [ ! -e "+gate+" ]; do sleep 0.05; done; echo second-line")
	run.out.waitFor(t, "first-line")
	m := regexp.MustCompile(`launching task (\S+) on`).FindStringSubmatch(run.out.String())
	if m == nil {
		t.Fatalf("no task ID in:\n%s", run.out.String())
	}
	task := m[1]

	// No certificate, no credentials: refused before anything is asked,
	// saying what to give.
	if out, err := logs(nil, task).CombinedOutput(); err == nil || !strings.Contains(string(out), "--principal and --secret") {
		t.Fatalf("agora logs with neither certificate nor credentials: %v\n%s", err, out)
	}
	// A wrong secret: the master refuses it.
	if out, err := logs(nil, task, "--principal", "ops", "--secret", "wrong").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "refused: credentials not accepted") {
		t.Fatalf("agora logs with a wrong secret: %v\n%s", err, out)
	}

	// The flags, while the task runs.
	if out, err := logs(nil, task, "--principal", "ops", "--secret", "ops-secret").CombinedOutput(); err != nil || string(out) != "first-line\n" {
		t.Fatalf("agora logs --principal --secret: %v\n%q", err, out)
	}
	// The variables, following: it prints what the task writes next and
	// ends with the task.
	follow := logs([]string{"AGORA_PRINCIPAL=ops", "AGORA_SECRET=ops-secret"}, "-f", task)
	followed := &syncBuffer{}
	follow.Stdout, follow.Stderr = followed, followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- follow.Wait() }()
	t.Cleanup(func() { _ = follow.Process.Kill() })
	followed.waitFor(t, "first-line\n")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || followed.String() != "first-line\nsecond-line\n" {
			t.Fatalf("agora logs -f with AGORA_PRINCIPAL/AGORA_SECRET: %v\n%q", err, followed.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("agora logs -f did not end with the task; printed %q", followed.String())
	}
	<-run.done

	// Output larger than one read through the master (MaxFileRead, 4 MiB)
	// comes whole, in several reads.
	const size = 5 << 20
	big := startProc(t, "run-big", "run", "--master", info.Remoting, "--name", "logs-big", "--timeout", "60s", "--",
		"sh", "-c", fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x", size))
	<-big.done
	m = regexp.MustCompile(`launching task (\S+) on`).FindStringSubmatch(big.out.String())
	if m == nil || big.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("agora run of the large output: %v", big.cmd.ProcessState)
	}
	out, err := logs([]string{"AGORA_PRINCIPAL=ops", "AGORA_SECRET=ops-secret"}, m[1]).Output()
	if err != nil || len(out) != size || strings.Trim(string(out), "x") != "" {
		t.Fatalf("agora logs of %d bytes: %v, %d bytes", size, err, len(out))
	}
}
