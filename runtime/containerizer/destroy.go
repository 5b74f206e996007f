package containerizer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Destroy implements Destroyer. With cgroups, the task's group holds
// everything it started (its user cannot move a process out): the group is
// emptied and removed. Without, the processes are found by their
// environment, where every process a task starts inherits AGORA_SANDBOX;
// one that cleared its environment is not found (isolate with cgroups).
func (cz Command) Destroy(ctx context.Context, id, sandbox string) error {
	if cz.Cgroups != nil {
		return cz.Cgroups.RemoveContext(ctx, id)
	}
	return killBySandbox(ctx, sandbox)
}

// killBySandbox SIGKILLs every process whose environment names sandbox,
// until none is left, giving the kernel a second to reap them.
func killBySandbox(ctx context.Context, sandbox string) error {
	const attempts, pause = 100, 10 * time.Millisecond
	mark := []byte("\x00AGORA_SANDBOX=" + sandbox + "\x00")
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("kill the processes of sandbox %s: %w", sandbox, ctx.Err())
			case <-time.After(pause): // the kernel is reaping the killed
			}
		}
		found, err := processesWithEnv(mark)
		if err != nil {
			return fmt.Errorf("kill the processes of sandbox %s: %w", sandbox, err)
		}
		if len(found) == 0 {
			return nil
		}
		for _, pid := range found {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("kill the processes of sandbox %s: some still run after %v", sandbox, attempts*pause)
}

// processesWithEnv lists the processes whose environment holds mark
// ("\x00NAME=VALUE\x00"; the first variable matches too). Zombies have
// none, so the killed do not count.
func processesWithEnv(mark []byte) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || len(env) == 0 {
			continue // gone, a zombie, or not ours to read
		}
		if bytes.Contains(append([]byte{0}, env...), mark) {
			found = append(found, pid)
		}
	}
	return found, nil
}

// RemoveGroup implements GroupCleaner: the task group's parent cgroup.
func (cz Command) RemoveGroup(parent string) error {
	if cz.Cgroups == nil {
		return nil
	}
	return cz.Cgroups.RemoveParent(parent)
}
