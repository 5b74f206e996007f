package containerizer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Command is the built-in command containerizer: it runs `sh -c VALUE` (or
// VALUE with arguments as argv) as a plain process in its own process
// group, in the sandbox, with stdout and stderr in files there, as the
// task's user (LaunchSpec.User), with only the environment the task is
// given (taskEnv).
type Command struct {
	// Cgroups, when set, isolates each task in a cgroup with its limits.
	Cgroups *Cgroups
}

// Resize implements Resizer: the container's cgroup gets the new limits.
func (cz Command) Resize(_ context.Context, id string, cpus, memMB float64) error {
	if cz.Cgroups == nil {
		return ErrNotIsolated
	}
	return cz.Cgroups.Update(id, cpus, memMB)
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
	who, err := switchTo(spec.User)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(spec.Sandbox, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	// The sandbox is the task's to write in (its exit code too).
	if err := giveSandbox(spec.Sandbox, who); err != nil {
		return nil, err
	}
	if err := linkVolumes(spec, who); err != nil {
		return nil, err
	}
	env := taskEnv(spec, who)
	argv := []string{"/bin/sh", "-c", c.Value}
	if !c.Shell {
		path, err := lookPath(c.Value, env, spec.Sandbox)
		if err != nil {
			return nil, err
		}
		argv = append([]string{path}, c.Arguments...)
	}
	if err := os.Remove(ExitFile(spec.Sandbox)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("clear the exit file: %w", err)
	}
	// The task runs under a shell that writes its exit code to the sandbox:
	// if the agent dies, the task goes on, and the restarted agent, no
	// longer its parent, learns the code from the file.
	cmd := exec.Command("/bin/sh", append([]string{"-c", exitRecorder, "agora-task"}, argv...)...)
	cmd.Dir = spec.Sandbox
	cmd.Env = env
	stdout, err := createOutput(spec.Sandbox, "stdout", who)
	if err != nil {
		return nil, err
	}
	stderr, err := createOutput(spec.Sandbox, "stderr", who)
	if err != nil {
		stdout.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so a kill reaches everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if who != nil {
		// The recording shell runs as the task's user too: it writes in
		// the task's sandbox, where root must not write.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: who.UID, Gid: who.GID, Groups: who.Groups}
	}
	// The recording shell waits on fd 3 until it is in its cgroup, so the
	// task never runs outside it.
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	cmd.ExtraFiles = []*os.File{gateR}
	var cg *cgroup
	if cz.Cgroups != nil {
		if cg, err = cz.Cgroups.create(spec.CgroupParent, spec.ParentCPUs, spec.ParentMemMB, spec.ID, spec.CPUs, spec.MemMB); err != nil {
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
		if blocked := unsearchable(spec.Sandbox, who); errors.Is(err, fs.ErrPermission) && blocked != "" {
			return nil, fmt.Errorf("start %q: user %s cannot enter its sandbox %s, as %s is not searchable by it: every directory above the sandbox must be (chmod o+x on the agent's work dir and its parents), or run the task as another user: %w",
				c.Value, who.Name, spec.Sandbox, blocked, err)
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

// unsearchable is the first directory from / down to dir that user who
// (nil: the agent's own) may not search, by its mode bits; "" if none.
// It explains a failed start.
func unsearchable(dir string, who *User) string {
	if who == nil || who.UID == 0 {
		return ""
	}
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		st, err := os.Stat(chain[i])
		if err != nil {
			return ""
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return ""
		}
		perm := uint32(st.Mode().Perm())
		var bit uint32 = 0o001
		switch {
		case sys.Uid == who.UID:
			bit = 0o100
		case sys.Gid == who.GID || slices.Contains(who.Groups, sys.Gid):
			bit = 0o010
		}
		if perm&bit == 0 {
			return chain[i]
		}
	}
	return ""
}

// defaultPath is a task's PATH unless it sets its own.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// taskEnv is a task's whole environment: nothing of the agent's (which may
// hold credentials), only PATH and its user's HOME, USER and LOGNAME, then
// what the task sets, then Agora's own variables (spec.Env, AGORA_SANDBOX,
// AGORA_EXIT_FILE), which the task cannot override. who is the task's user;
// nil: the agent's own.
func taskEnv(spec LaunchSpec, who *User) []string {
	u := agentUser()
	if who != nil {
		u = *who
	}
	env := []string{"PATH=" + defaultPath, "HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name}
	env = append(env, sortedEnv(spec.Command.GetEnvironment(), spec.Env)...)
	return append(env, "AGORA_SANDBOX="+spec.Sandbox, "AGORA_EXIT_FILE="+ExitFile(spec.Sandbox))
}

// lookPath finds a command as the task's PATH (the last PATH in env) does;
// a relative path with a slash is relative to the sandbox dir.
func lookPath(file string, env []string, dir string) (string, error) {
	executable := func(p string) bool {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		st, err := os.Stat(p)
		return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
	}
	if strings.Contains(file, "/") {
		if !executable(file) {
			return "", fmt.Errorf("command %q not found, or not an executable file", file)
		}
		return file, nil
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // relative to the sandbox: not where an agent looks
		}
		if p := filepath.Join(dir, file); executable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in the task's PATH %s", file, path)
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
		// 128+N, as a shell and Docker report a death by signal N, so
		// that `agora run` and scripts read the same code either way.
		return Exit{Code: 128 + int(st.Signal()), Signal: st.Signal().String(), Killed: killed}
	case ok:
		return Exit{Code: st.ExitStatus(), Killed: killed}
	case err != nil:
		return Exit{Code: -1, Err: err, Killed: killed}
	}
	return Exit{Killed: killed}
}
