package main

// Attacks on an agent, with real processes, as an attacker does them: a
// task that makes the agent serve a file it cannot read, tasks run as
// root with the agent's environment, a checkpoint the disk garbled while
// the agent was down, and a remote PoisonPill that stops an actor behind
// a /health that still answers ok.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
)

// agoraRun runs `agora run` against a master as a framework of user
// (empty: none, so the agent's --task-user) and returns its stdout, its
// stderr and its exit code.
func agoraRun(t *testing.T, masterAddr, user string, argv ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(agoraBin, append([]string{"run", "--master", masterAddr, "--timeout", "60s", "--"}, argv...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "USER=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if user != "" {
		cmd.Env = append(cmd.Env, "USER="+user)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("agora run: %v", err)
	}
	return stdout.String(), stderr.String(), code
}

// A task replaces its stderr with a link to /etc/shadow: neither `agora
// run`, nor `agora logs --stderr`, nor the agent's HTTP API serve the
// file; the agent logs the refusal.
func TestTaskLinkingItsStderrToShadowGetsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil || len(shadow) == 0 {
		t.Fatalf("this test reads /etc/shadow as root to check it is never served: %v", err)
	}
	secret := strings.SplitN(string(shadow), "\n", 2)[0]
	dir := workDir(t)
	devProc, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", dir)
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	out, errOut, code := agoraRun(t, dev.Remoting, "", "sh", "-c", "echo written-before >&2; ln -sf /etc/shadow stderr")
	if code != 0 {
		t.Fatalf("agora run: exit %d\n%s", code, errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Fatalf("agora run printed /etc/shadow:\n%s\n%s", out, errOut)
	}
	m := regexp.MustCompile(`launching task (\S+) on`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no task ID in:\n%s", errOut)
	}
	task := m[1]

	logs, err := exec.Command(agoraBin, "logs", "--stderr", task, "--master-http", dev.HTTP).CombinedOutput()
	if err == nil || !strings.Contains(string(logs), "not a regular file") || strings.Contains(string(logs), secret) {
		t.Fatalf("agora logs --stderr: %v\n%s", err, logs)
	}

	sandboxes, _ := filepath.Glob(filepath.Join(dir, "frameworks", "*", "tasks", task))
	if len(sandboxes) != 1 {
		t.Fatalf("sandboxes of %s: %v", task, sandboxes)
	}
	fw := filepath.Base(filepath.Dir(filepath.Dir(sandboxes[0])))
	resp, err := operatorClient(15 * time.Second).Get(fmt.Sprintf("https://%s/sandboxes/%s/%s/stderr", dev.AgentHTTP, fw, task))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), secret) {
		t.Fatalf("agent HTTP: %d %q", resp.StatusCode, body)
	}
	devProc.out.waitFor(t, "refused to serve a sandbox file")
}

// Tasks run as the user they name, else the agent's --task-user (nobody),
// never as root by default, and with only their own environment: not the
// agent's, where its credentials are. An unknown user fails the task.
func TestTasksRunAsTheirUserWithTheirEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	t.Setenv("AGORA_TEST_AGENT_SECRET", "hunter2") // in the node's environment
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	out, errOut, code := agoraRun(t, dev.Remoting, "", "sh", "-c", "id -un; env")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if first, env, _ := strings.Cut(out, "\n"); first != "nobody" || strings.Contains(env, "hunter2") || !strings.Contains(env, "AGORA_TASK_ID=") {
		t.Fatalf("a task naming no user ran as %q with environment:\n%s", first, env)
	}
	if out, errOut, code := agoraRun(t, dev.Remoting, "daemon", "id", "-un"); code != 0 || out != "daemon\n" {
		t.Fatalf("a framework of user daemon: exit %d, ran as %q\n%s", code, out, errOut)
	}
	if _, errOut, code := agoraRun(t, dev.Remoting, "no-such-user-agora", "true"); code == 0 ||
		!strings.Contains(errOut, "TASK_FAILED") || !strings.Contains(errOut, `"no-such-user-agora" does not exist on this agent`) {
		t.Fatalf("an unknown user: exit %d\n%s", code, errOut)
	}
}

// The disk garbles a running task's checkpoint while its agent is down
// (SIGKILL). The restarted agent does not lose the task's process: it ends
// everything in the task's cgroup, and only then reports the task
// TASK_FAILED and re-registers, so the master frees resources no process
// uses; no cgroup is left, and nothing is reported lost.
func TestGarbledCheckpointAfterAgentSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	masterAddr, httpAddr := startMaster(t, dir)
	agentArgs := []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:1;mem:256;disk:64",
		"--registration-backoff", "100ms"}
	agent, _ := startNode(t, "agent", agentArgs...)
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "1", "--resources", "cpus:0.5;mem:64",
		"--command", "sleep 600 & sleep 600")
	fw.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	// RUNNING is sent once the checkpoint recording the process is on disk.
	paths, _ := filepath.Glob(filepath.Join(dir, "a", "meta", "frameworks", "*", "tasks", "task-0000.checkpoint"))
	if len(paths) != 1 {
		t.Fatalf("checkpoints: %v", paths)
	}
	b, err := os.ReadFile(paths[0])
	cp := &messages.TaskCheckpoint{}
	if err != nil || checkpoint.UnmarshalMessage(b, cp) != nil || cp.Pid == 0 {
		t.Fatalf("checkpoint: %v %v", err, cp)
	}
	group := filepath.Base(filepath.Dir(filepath.Dir(paths[0]))) + ".task-0000"

	agent.signal(syscall.SIGKILL)
	<-agent.done
	if err := os.WriteFile(paths[0], b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	agent, _ = startNode(t, "agent-again", agentArgs...)
	fw.out.waitFor(t, "task_id=task-0000 state=TASK_FAILED")
	if st, err := containerizer.ProcessStartTime(int(cp.Pid)); err == nil && st == cp.StartTime && !zombie(int(cp.Pid)) {
		t.Fatal("the task was reported failed while its process still runs")
	}
	if cg, err := containerizer.DetectCgroups("/sys/fs/cgroup"); err == nil && cg.Exists(group) {
		t.Fatalf("cgroup %s left", group)
	}
	agent.out.waitFor(t, "unreadable task checkpoint")
	out := fw.out.String()
	if !strings.Contains(out, "could not read the task's checkpoint") || strings.Contains(out, "TASK_LOST") {
		t.Fatalf("the framework was told:\n%s", out)
	}
	waitState(t, httpAddr, func(st *messages.MasterState) bool {
		return reachable(st) == 1 && st.Agents[0].Reregistrations > 0 && len(st.Agents[0].Used) == 0
	})
}

// poisonEnv, when set, makes the test binary an attacker (see TestMain):
// it sends a PoisonPill over remoting to the actor named by poisonActorEnv
// at that address, and prints "stopped" once the actor's node says it
// terminated, or "alive" if it has not within 10 s.
const poisonEnv, poisonActorEnv = "AGORA_TEST_POISON", "AGORA_TEST_POISON_ACTOR"

// poisonActor is the attacker's side: one remote in its own process. It
// watches its victim (a remote watch) before it poisons it.
func poisonActor(addr, name string) int {
	// A valid framework certificate: the cluster lets the attacker in, and
	// refuses its PoisonPill.
	src, err := security.FromEnv().Load(security.RoleFramework, nil)
	if err != nil {
		fmt.Println("attacker:", err)
		return 1
	}
	node, err := remoting.Start(remoting.Config{Bind: "127.0.0.1:0", TLS: src})
	if err != nil {
		fmt.Println("attacker:", err)
		return 1
	}
	defer node.Stop()
	victim := actor.NewPID(addr, name)
	terminated := make(chan struct{}, 1)
	node.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			ctx.Watch(victim)
			ctx.Send(victim, &actor.PoisonPill{})
		case *actor.Terminated:
			terminated <- struct{}{}
		}
	}))
	select {
	case <-terminated:
		fmt.Println("stopped")
	case <-time.After(10 * time.Second):
		fmt.Println("alive")
	}
	return 0
}

// A remote PoisonPill to the agent, the allocator or the master stops it
// (unless the node refuses remote system messages): /health then answers
// 503 naming the stopped actor, though the HTTP servers still run; an
// actor that did not stop leaves /health ok.
func TestHealthTellsARemotelyStoppedActor(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	health := func(addr string) (int, string) {
		resp, err := operatorClient(15 * time.Second).Get("https://" + addr + "/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, addr := range []string{dev.HTTP, dev.AgentHTTP} {
		if code, body := health(addr); code != 200 {
			t.Fatalf("%s/health before any attack: %d %q", addr, code, body)
		}
	}
	for _, v := range []struct{ actor, http string }{{"agent", dev.AgentHTTP}, {"allocator", dev.HTTP}, {"master", dev.HTTP}} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), poisonEnv+"="+dev.Remoting, poisonActorEnv+"="+v.actor)
		out, err := cmd.Output() // its logs go to stderr
		if err != nil {
			t.Fatalf("attacker: %v\n%s", err, out)
		}
		code, body := health(v.http)
		switch outcome := strings.TrimSpace(string(out)); {
		case outcome == "stopped":
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "the "+v.actor+" actor") {
				t.Fatalf("the %s actor stopped, yet /health answers %d %q", v.actor, code, body)
			}
		case outcome == "alive":
			if code != 200 {
				t.Fatalf("the %s actor took no harm (%s), yet /health answers %d %q", v.actor, outcome, code, body)
			}
		default:
			t.Fatalf("the attacker could not tell what became of the %s actor:\n%s", v.actor, out)
		}
	}
}

// The same with a custom executor running two tasks of the framework: the
// agent cannot tell whether the task of the garbled checkpoint runs in the
// executor, so it ends the executor (it does not ask it to re-register),
// and both tasks fail, each saying why; no executor process is left.
func TestGarbledCheckpointEndsTheFrameworksExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	masterAddr, httpAddr := startMaster(t, dir)
	agentArgs := []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:2;mem:512;disk:64", "--registration-backoff", "100ms"}
	agent, _ := startNode(t, "agent", agentArgs...)
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "2", "--resources", "cpus:0.5;mem:64",
		"--command", "sleep 600", "--executor", executorBin)
	fw.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	fw.out.waitFor(t, "task_id=task-0001 state=TASK_RUNNING")
	agent.signal(syscall.SIGKILL)
	<-agent.done
	paths, _ := filepath.Glob(filepath.Join(dir, "a", "meta", "frameworks", "*", "tasks", "task-0000.checkpoint"))
	if len(paths) != 1 {
		t.Fatalf("checkpoints: %v", paths)
	}
	if err := os.WriteFile(paths[0], []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	agent, _ = startNode(t, "agent-again", agentArgs...)
	fw.out.waitFor(t, `task_id=task-0000 state=TASK_FAILED message="the agent restarted and could not read the task's checkpoint`)
	fw.out.waitFor(t, `task_id=task-0001 state=TASK_FAILED message="the agent restarted and could not read a task checkpoint of this framework`)
	if out, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output(); len(out) > 0 {
		t.Fatalf("executor processes left: %s", out)
	}
	if strings.Contains(fw.out.String(), "TASK_LOST") {
		t.Fatalf("a task was reported lost:\n%s", fw.out.String())
	}
	waitState(t, httpAddr, func(st *messages.MasterState) bool {
		return reachable(st) == 1 && st.Agents[0].Reregistrations > 0 && len(st.Agents[0].Used) == 0
	})
	agent.out.waitFor(t, "stopping an executor")
}

// The executor's own checkpoint garbled (its tasks' are intact): the agent
// cannot know the executor's process, so it ends what runs in the
// executor's container, and the executor's tasks fail saying why; no
// executor process and no cgroup is left, and the master frees nothing a
// process still uses.
func TestGarbledExecutorCheckpointEndsTheExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	masterAddr, httpAddr := startMaster(t, dir)
	agentArgs := []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:2;mem:512;disk:64", "--registration-backoff", "100ms"}
	agent, _ := startNode(t, "agent", agentArgs...)
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "2", "--resources", "cpus:0.5;mem:64",
		"--command", "sleep 600", "--executor", executorBin)
	fw.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	fw.out.waitFor(t, "task_id=task-0001 state=TASK_RUNNING")
	agent.signal(syscall.SIGKILL)
	<-agent.done
	paths, _ := filepath.Glob(filepath.Join(dir, "a", "meta", "frameworks", "*", "executors", "*.checkpoint"))
	if len(paths) != 1 {
		t.Fatalf("executor checkpoints: %v", paths)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x10 // one bit: what is left may well parse; the frame's checksum says it is damaged
	if err := os.WriteFile(paths[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	group := filepath.Base(filepath.Dir(filepath.Dir(paths[0]))) + ".executor." + strings.TrimSuffix(filepath.Base(paths[0]), ".checkpoint")
	agent, _ = startNode(t, "agent-again", agentArgs...)
	agent.out.waitFor(t, "unreadable executor checkpoint")
	for _, id := range []string{"task-0000", "task-0001"} {
		fw.out.waitFor(t, "task_id="+id+` state=TASK_FAILED message="the agent restarted and could not read its executor's checkpoint`)
	}
	if out, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output(); len(out) > 0 {
		t.Fatalf("executor processes left: %s", out)
	}
	if cg, err := containerizer.DetectCgroups("/sys/fs/cgroup"); err == nil && cg.Exists(group) {
		t.Fatalf("cgroup %s left", group)
	}
	if strings.Contains(fw.out.String(), "TASK_LOST") {
		t.Fatalf("a task was reported lost:\n%s", fw.out.String())
	}
	waitState(t, httpAddr, func(st *messages.MasterState) bool {
		return reachable(st) == 1 && st.Agents[0].Reregistrations > 0 && len(st.Agents[0].Used) == 0
	})
}
