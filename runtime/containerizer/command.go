package containerizer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Command is the built-in command containerizer: it runs `sh -c VALUE` (or
// VALUE with arguments as argv) as a plain process in its own process
// group, in the sandbox, with stdout and stderr in files there.
type Command struct {
	// Cgroups, when set, isolates each task in a cgroup with its limits.
	Cgroups *Cgroups
}

// Launch implements Containerizer. Starting a process does not wait on
// anything that could hang, so ctx is only checked before starting.
func (cz Command) Launch(ctx context.Context, spec LaunchSpec) (Container, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("launch %s: %w", spec.ID, err)
	}
	c := spec.Command
	if c == nil || c.Value == "" {
		return nil, errors.New("no command given")
	}
	if err := os.MkdirAll(spec.Sandbox, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	argv := []string{"/bin/sh", "-c", c.Value}
	if !c.Shell {
		path, err := exec.LookPath(c.Value)
		if err != nil {
			return nil, fmt.Errorf("command %q not found: %w", c.Value, err)
		}
		argv = append([]string{path}, c.Arguments...)
	}
	_ = os.Remove(ExitFile(spec.Sandbox))
	// The task runs under a shell that writes its exit code to the sandbox:
	// if the agent dies, the task goes on, and the restarted agent, no
	// longer its parent, learns the code from the file.
	cmd := exec.Command("/bin/sh", append([]string{"-c", exitRecorder, "agora-task"}, argv...)...)
	cmd.Dir = spec.Sandbox
	cmd.Env = append(os.Environ(), "AGORA_SANDBOX="+spec.Sandbox, "AGORA_EXIT_FILE="+ExitFile(spec.Sandbox))
	for _, kv := range sortedEnv(c.Environment, spec.Env) {
		cmd.Env = append(cmd.Env, kv)
	}
	stdout, err := os.Create(filepath.Join(spec.Sandbox, "stdout"))
	if err != nil {
		return nil, fmt.Errorf("create stdout: %w", err)
	}
	stderr, err := os.Create(filepath.Join(spec.Sandbox, "stderr"))
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("create stderr: %w", err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so a kill reaches everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The recording shell waits on fd 3 until it is in its cgroup, so the
	// task never runs outside it.
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	cmd.ExtraFiles = []*os.File{gateR}
	var cg *cgroup
	if cz.Cgroups != nil {
		if cg, err = cz.Cgroups.create(spec.ID, spec.CPUs, spec.MemMB); err != nil {
			stdout.Close()
			stderr.Close()
			gateR.Close()
			gateW.Close()
			return nil, err
		}
	}
	err = cmd.Start()
	gateR.Close()
	if err == nil && cg != nil {
		err = cg.add(cmd.Process.Pid)
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	if err != nil {
		stdout.Close()
		stderr.Close()
		gateW.Close()
		if cg != nil {
			_ = cg.destroy(context.Background())
		}
		return nil, fmt.Errorf("start %q: %w", c.Value, err)
	}
	_, _ = gateW.Write([]byte("go\n"))
	gateW.Close()
	p := &process{group: newGroup(cmd.Process.Pid), cmd: cmd}
	p.start, _ = ProcessStartTime(cmd.Process.Pid)
	// The container's own goroutine: it reaps the child (only the parent
	// can) and ends when the task does.
	go func() {
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		ex := exitOf(cmd, err, p.wasKilled())
		if cg != nil {
			ex.OOM = cg.oomKilled()
			_ = cg.destroy(context.Background()) // bounded: see destroy
		}
		p.end(ex)
	}()
	return p, nil
}

func sortedEnv(maps ...map[string]string) []string {
	var out []string
	for _, m := range maps {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, k+"="+m[k])
		}
	}
	return out
}

// exitRecorder runs "$@" and writes its exit code atomically to
// $AGORA_EXIT_FILE. It outlives signals sent to the task's process group
// (the task decides; its own dispositions are untouched: a trap, unlike an
// ignored signal, is not inherited) and ends the way the task did: with
// its code, or by the signal that ended it.
const exitRecorder = `read _ <&3; exec 3<&-
trap : TERM INT HUP
"$@" &
child=$!
while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done
printf '%s\n' "$code" > "$AGORA_EXIT_FILE.tmp" && mv -f "$AGORA_EXIT_FILE.tmp" "$AGORA_EXIT_FILE"
if [ "$code" -gt 128 ]; then trap - TERM INT HUP; kill -s "$(kill -l $((code - 128)))" $$; fi
exit "$code"`

// outcome is how a container ends, once: what every container's Wait
// returns, and whether Kill asked for it.
type outcome struct {
	done   chan struct{}
	mu     sync.Mutex
	exit   Exit
	killed bool
}

func newOutcome() outcome { return outcome{done: make(chan struct{})} }

// end records how the container ended; ex.Killed is set from Kill.
func (o *outcome) end(ex Exit) {
	o.mu.Lock()
	ex.Killed = ex.Killed || o.killed
	o.exit = ex
	o.mu.Unlock()
	close(o.done)
}

func (o *outcome) markKilled() {
	o.mu.Lock()
	o.killed = true
	o.mu.Unlock()
}

func (o *outcome) wasKilled() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.killed
}

// Wait implements Container.
func (o *outcome) Wait(ctx context.Context) (Exit, error) {
	select {
	case <-o.done:
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.exit, nil
}

// group is a task's process group: waited for and killed the same way
// whether the agent started it (process) or re-attached to it (attached).
type group struct {
	outcome
	pid int
}

func newGroup(pid int) group { return group{outcome: newOutcome(), pid: pid} }

// Kill implements Container: SIGTERM to the whole group, SIGKILL after
// grace to what is left. Its goroutine ends with the group or the grace.
func (g *group) Kill(grace time.Duration) {
	g.markKilled()
	_ = syscall.Kill(-g.pid, syscall.SIGTERM)
	go func() {
		select {
		case <-g.done:
		case <-time.After(grace):
			_ = syscall.Kill(-g.pid, syscall.SIGKILL)
		}
	}()
}

type process struct {
	group
	cmd   *exec.Cmd
	start uint64
}

// Identity implements Identified.
func (p *process) Identity() (int, uint64) { return p.cmd.Process.Pid, p.start }

func exitOf(cmd *exec.Cmd, err error, killed bool) Exit {
	st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ok && st.Signaled():
		return Exit{Code: -1, Signal: st.Signal().String(), Killed: killed}
	case ok:
		return Exit{Code: st.ExitStatus(), Killed: killed}
	case err != nil:
		return Exit{Code: -1, Err: err, Killed: killed}
	}
	return Exit{Killed: killed}
}
