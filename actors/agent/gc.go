package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// DefaultSandboxGC keeps a finished task's sandbox for a week (Mesos).
const DefaultSandboxGC = 7 * 24 * time.Hour

type (
	// gcSandbox asks the agent to remove a finished task's sandbox.
	gcSandbox struct{ dir string }
	// sandboxRemoved: the removal of dir is over (err says how).
	sandboxRemoved struct {
		dir string
		err error
	}
)

// forget removes a task whose terminal update was acknowledged: its
// checkpoint goes now (after any write of it still queued), its sandbox
// after the GC delay.
func (a *agent) forget(run *taskRun) {
	delete(a.tasks, run.key)
	a.cfg.Metrics.task(run, run.state, 0)
	if a.cfg.WorkDir != "" && run.sandbox != "" {
		if run.msg != nil {
			a.unpersist(taskOwner(run.key), a.checkpointPath(run))
		}
		a.later(a.sandboxGC(), gcSandbox{dir: run.sandbox})
	}
}

func (a *agent) sandboxGC() time.Duration {
	if a.cfg.SandboxGC > 0 {
		return a.cfg.SandboxGC
	}
	return DefaultSandboxGC
}

// handleGCSandbox starts removing a finished task's sandbox off the actor,
// unless a task of the same ID runs in it again. Until the removal is
// over, a task of that ID waits to start (handleRunTask).
func (a *agent) handleGCSandbox(msg gcSandbox) {
	if _, busy := a.removing[msg.dir]; busy {
		return
	}
	for _, run := range a.tasks {
		if run.sandbox == msg.dir {
			return
		}
	}
	a.removing[msg.dir] = nil
	sys, self, dir, hook := a.sys, a.self, msg.dir, a.cfg.diskHook
	a.bg.run(func(ctx context.Context) {
		if hook != nil {
			hook(dir)
		}
		sys.Root.Send(self, sandboxRemoved{dir: dir, err: removeTree(ctx, dir)})
	})
}

func (a *agent) handleSandboxRemoved(ctx actor.Context, msg sandboxRemoved) {
	waiting := a.removing[msg.dir]
	delete(a.removing, msg.dir)
	if msg.err != nil {
		a.log.Warn("cannot remove a finished task's sandbox", "dir", msg.dir, "err", msg.err)
	} else {
		ctx.ActorSystem().EventStream.Publish(SandboxRemoved{Dir: msg.dir})
	}
	for _, start := range waiting {
		start(ctx)
	}
}

// removeTree removes dir and what it holds, one entry at a time so that a
// stopping agent does not wait for a large sandbox to go.
func removeTree(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// gcOldSandboxes schedules the removal of sandboxes an earlier run of the
// agent left (no task or executor checkpoint: finished), by their age.
func (a *agent) gcOldSandboxes() {
	dirs, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "frameworks", "*", "tasks", "*"))
	now := a.cfg.Clock.Now()
	for _, dir := range dirs {
		fw, name := filepath.Base(filepath.Dir(filepath.Dir(dir))), filepath.Base(dir)
		if _, err := os.Stat(a.taskCheckpointPath(taskKey{fw, name})); err == nil {
			continue
		}
		if id, ok := strings.CutPrefix(name, executorSandboxPrefix); ok {
			if _, err := os.Stat(a.executorCheckpointPath(executorKey{fw, id})); err == nil {
				continue
			}
		}
		st, err := os.Stat(dir)
		if err != nil {
			continue
		}
		a.later(max(0, a.sandboxGC()-now.Sub(st.ModTime())), gcSandbox{dir: dir})
	}
}
