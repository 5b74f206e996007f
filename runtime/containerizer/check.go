package containerizer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Checker is implemented by containerizers that run a task's health
// checks where Mesos runs them: a command beside the task (Exec), and
// HTTP and TCP probes against the address its ports answer on (Address).
type Checker interface {
	// Exec runs cmd beside the task that spec launched as c, and returns
	// how it ended; ctx bounds it (the command is killed when ctx ends).
	Exec(ctx context.Context, spec LaunchSpec, c Container, cmd *messages.CommandInfo) (ExecResult, error)
	// Address is the host the task's ports answer on, from the agent.
	Address(ctx context.Context, c Container) (string, error)
}

// ExecResult is how a check's command ended.
type ExecResult struct {
	Code int
	// Output is the end of what the command wrote (stdout then stderr),
	// at most MaxExecOutput bytes: for the message of a failed check.
	Output string
}

// MaxExecOutput bounds the output a check's command keeps.
const MaxExecOutput = 1024

// tail keeps the last MaxExecOutput bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > MaxExecOutput {
		t.b = append(t.b[:0], t.b[len(t.b)-MaxExecOutput:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(bytes.TrimSpace(t.b)) }

// Exec implements Checker: cmd runs as the task does, as its user, in its
// sandbox, with its environment (and the check's own variables), in a
// process group of its own that is killed when ctx ends.
func (cz Command) Exec(ctx context.Context, spec LaunchSpec, _ Container, cmd *messages.CommandInfo) (ExecResult, error) {
	who, err := switchTo(spec.User)
	if err != nil {
		return ExecResult{}, err
	}
	env := append(taskEnv(spec, who), sortedEnv(cmd.GetEnvironment())...)
	argv := []string{"/bin/sh", "-c", cmd.GetValue()}
	if !cmd.GetShell() {
		path, err := lookPath(cmd.GetValue(), env, spec.Sandbox)
		if err != nil {
			return ExecResult{}, err
		}
		argv = append([]string{path}, cmd.GetArguments()...)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Dir, c.Env = spec.Sandbox, env
	var out tail
	c.Stdout, c.Stderr = &out, &out
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if who != nil {
		c.SysProcAttr.Credential = &syscall.Credential{Uid: who.UID, Gid: who.GID, Groups: who.Groups}
	}
	// What the check started goes with it: the whole group is killed.
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = time.Second
	err = c.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return ExecResult{}, fmt.Errorf("check command %.64q: %w", cmd.GetValue(), ctx.Err())
	case errors.As(err, &exit):
		return ExecResult{Code: exitOf(c, err, false).Code, Output: out.String()}, nil
	case err != nil:
		return ExecResult{}, fmt.Errorf("check command %.64q: %w", cmd.GetValue(), err)
	}
	return ExecResult{Output: out.String()}, nil
}

// Address implements Checker: a command task shares the agent's network.
func (Command) Address(context.Context, Container) (string, error) { return "127.0.0.1", nil }

// Exec implements Checker: cmd runs inside the task's container (docker
// exec), as the task's user, with the container's environment and the
// check's own variables.
func (d *Docker) Exec(ctx context.Context, spec LaunchSpec, c Container, cmd *messages.CommandInfo) (ExecResult, error) {
	dc, ok := c.(*dockerContainer)
	if !ok {
		return ExecResult{}, fmt.Errorf("task %s has no Docker container to run its check in", spec.ID)
	}
	argv := []string{"/bin/sh", "-c", cmd.GetValue()}
	if !cmd.GetShell() {
		argv = append([]string{cmd.GetValue()}, cmd.GetArguments()...)
	}
	opts := container.ExecOptions{Cmd: argv, Env: sortedEnv(cmd.GetEnvironment()), AttachStdout: true, AttachStderr: true}
	if spec.User != "" {
		u, err := LookupUser(spec.User)
		if err != nil {
			return ExecResult{}, err
		}
		opts.User = fmt.Sprintf("%d:%d", u.UID, u.GID)
	}
	created, err := d.Client.ContainerExecCreate(ctx, dc.id, opts)
	if err != nil {
		return ExecResult{}, fmt.Errorf("docker exec in container %s: %w", dc.id, err)
	}
	att, err := d.Client.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("docker exec in container %s: %w", dc.id, err)
	}
	// The stream ends when the command does; ctx ending closes it.
	stop := context.AfterFunc(ctx, func() { att.Close() })
	var out tail
	_, err = stdcopy.StdCopy(&out, &out, att.Reader)
	stop()
	att.Close()
	if ctx.Err() != nil {
		return ExecResult{}, fmt.Errorf("docker exec in container %s: %w", dc.id, ctx.Err())
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return ExecResult{}, fmt.Errorf("docker exec in container %s: read its output: %w", dc.id, err)
	}
	ictx, cancel := d.call(ctx)
	defer cancel()
	st, err := d.Client.ContainerExecInspect(ictx, created.ID)
	if err != nil {
		return ExecResult{}, fmt.Errorf("docker exec in container %s: %w", dc.id, err)
	}
	return ExecResult{Code: st.ExitCode, Output: out.String()}, nil
}

// Address implements Checker: 127.0.0.1 for a container on the host's
// network, else its address on its own network (its ports answer there
// without a port mapping, as inside its network namespace in Mesos).
func (d *Docker) Address(ctx context.Context, c Container) (string, error) {
	dc, ok := c.(*dockerContainer)
	if !ok {
		return "", errors.New("no Docker container to check")
	}
	ictx, cancel := d.call(ctx)
	defer cancel()
	st, err := d.Client.ContainerInspect(ictx, dc.id)
	if err != nil {
		return "", fmt.Errorf("inspect container %s: %w", dc.id, err)
	}
	if st.HostConfig != nil && st.HostConfig.NetworkMode.IsHost() {
		return "127.0.0.1", nil
	}
	if ns := st.NetworkSettings; ns != nil {
		for _, n := range ns.Networks {
			if n != nil && n.IPAddress != "" {
				return n.IPAddress, nil
			}
		}
	}
	return "", fmt.Errorf("container %s has no address on a network (network none?): give it one, or use a COMMAND check", dc.id)
}
