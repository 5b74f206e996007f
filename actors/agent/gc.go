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
	// gcDue: the sandbox GC's timer, armed for at (agent.gcArmed), is due.
	gcDue struct{ at time.Time }
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
		a.scheduleGC(run.sandbox, a.cfg.Clock.Now().Add(a.sandboxGC()))
	}
}

// scheduleGC queues dir for removal at due, and arms the GC's one timer
// if nothing is due sooner.
func (a *agent) scheduleGC(dir string, due time.Time) {
	a.gcq.add(dir, due)
	a.cfg.Metrics.gc(a.gcq.Len())
	if a.gcArmed.IsZero() || due.Before(a.gcArmed) {
		a.armGC(due)
	}
}

// armGC arms the GC's timer for at; one armed before it is ignored when it
// fires (handleGCDue).
func (a *agent) armGC(at time.Time) {
	a.gcArmed = at
	a.later(max(0, at.Sub(a.cfg.Clock.Now())), gcDue{at: at})
}

// handleGCDue removes the sandboxes due and arms the timer for the next,
// no sooner than a thousandth of the GC delay from now (10 minutes of a
// week), so that a task finishing every second is not a timer every
// second a week later.
func (a *agent) handleGCDue(msg gcDue) {
	if !msg.at.Equal(a.gcArmed) {
		return // superseded by an earlier one
	}
	a.gcArmed = time.Time{}
	now := a.cfg.Clock.Now()
	if dirs := a.gcq.popDue(now); len(dirs) > 0 {
		a.cfg.Metrics.gc(a.gcq.Len())
		inUse := make(map[string]bool, len(a.tasks))
		for _, run := range a.tasks {
			inUse[run.sandbox] = true
		}
		for _, dir := range dirs {
			if !inUse[dir] {
				a.removeSandbox(dir)
			}
		}
	}
	if next, ok := a.gcq.next(); ok {
		if soonest := now.Add(a.sandboxGC() / 1000); next.Before(soonest) {
			next = soonest
		}
		a.armGC(next)
	}
}

func (a *agent) sandboxGC() time.Duration {
	if a.cfg.SandboxGC > 0 {
		return a.cfg.SandboxGC
	}
	return DefaultSandboxGC
}

// removeSandbox starts removing a finished task's sandbox off the actor
// (the caller has checked that no task of the same ID runs in it again).
// Until the removal is over, a task of that ID waits to start
// (handleRunTask).
func (a *agent) removeSandbox(dir string) {
	if _, busy := a.removing[dir]; busy {
		return
	}
	a.removing[dir] = nil
	sys, self, hook := a.sys, a.self, a.cfg.diskHook
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
	a.cfg.Metrics.gcRemoved(msg.err)
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
		a.scheduleGC(dir, st.ModTime().Add(a.sandboxGC()))
	}
}
