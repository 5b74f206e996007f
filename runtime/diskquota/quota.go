// Package diskquota enforces a task's disk: what Mesos' posix/disk
// isolator does with --enforce_container_disk_quota. A task's sandbox may
// hold at most the disk it was given (its disk resources that are not
// persistent volumes), and each persistent volume it uses at most the
// volume's size. The decision is a plain function; the measuring is a
// du-style walk. The agent is the shell: every interval on its clock it
// lists its running tasks, walks the targets off its actor, and kills what
// Decide names:
//
//	targets := diskquota.Targets(tasks)
//	off the actor: usages[t.Path] = diskquota.Measure(ctx, t, diskquota.MaxFiles)
//	for _, k := range diskquota.Decide(tasks, usages) { kill k.Task: TASK_FAILED, REASON_CONTAINER_LIMITATION_DISK, k.Message }
//	arm the next round after the interval
//
// The next round is armed when a round ends, not on a fixed ticker: a slow
// walk (a large tree, a busy disk) delays the next one instead of piling
// walks up.
package diskquota

import (
	"fmt"
	"slices"
)

// MiB is a mebibyte: disk resources count in MiB.
const MiB = 1 << 20

// Task is one task whose disk is watched.
type Task struct {
	// Key is the caller's name for the task, handed back in a Kill.
	Key string
	// Sandbox is the task's sandbox directory and SandboxMiB its size (the
	// task's disk that is not a volume); 0 leaves the sandbox unbounded,
	// as Mesos does for a task without disk.
	Sandbox    string
	SandboxMiB float64
	Volumes    []Volume
}

// Volume is a persistent volume a task uses.
type Volume struct {
	ID   string
	Path string
	MiB  float64
}

// Target is one directory to measure, and its limit in bytes.
type Target struct {
	Path  string
	Limit int64
}

// Usage is what a Target measured. When Over, Bytes is at least what was
// counted when the walk passed the limit and stopped: the true usage may
// be larger.
type Usage struct {
	Bytes int64
	Files int
	Over  bool
	// Partial: the walk stopped at its file budget (MaxFiles) before the
	// end of the tree, below the limit; nothing is decided from it.
	Partial bool
	// Err: the walk failed at the top (the directory is gone); entries it
	// could not read below are skipped.
	Err error
}

// Kill is a task to kill for its disk, and what to tell its framework.
type Kill struct {
	Key     string
	Message string
}

// Targets are the distinct directories of tasks with a limit, in path
// order. A volume shared by tasks is measured once; a sandbox without a
// limit is not measured.
func Targets(tasks []Task) []Target {
	limits := map[string]int64{}
	for _, t := range tasks {
		if l := bytes(t.SandboxMiB); l > 0 && t.Sandbox != "" {
			limits[t.Sandbox] = l
		}
		for _, v := range t.Volumes {
			if l := bytes(v.MiB); l > 0 && v.Path != "" {
				limits[v.Path] = l
			}
		}
	}
	out := make([]Target, 0, len(limits))
	for p, l := range limits {
		out = append(out, Target{Path: p, Limit: l})
	}
	slices.SortFunc(out, func(a, b Target) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return out
}

// Decide names the tasks, in their order, that are over a limit: their
// sandbox holds more than their disk, or a volume they use more than its
// size. A task over both is named once, for its sandbox. A target without
// a usage (not measured, or its walk failed or stopped at its budget)
// kills nothing.
func Decide(tasks []Task, usages map[string]Usage) []Kill {
	var out []Kill
	for _, t := range tasks {
		if u, ok := usages[t.Sandbox]; ok && over(u, t.SandboxMiB) {
			out = append(out, Kill{Key: t.Key, Message: fmt.Sprintf(
				"disk limit reached: the sandbox uses %s of the %s the task was given (its disk resource); the task was killed",
				size(u), mib(t.SandboxMiB))})
			continue
		}
		for _, v := range t.Volumes {
			if u, ok := usages[v.Path]; ok && over(u, v.MiB) {
				out = append(out, Kill{Key: t.Key, Message: fmt.Sprintf(
					"disk limit reached: persistent volume %q holds %s, more than its size %s; the task using it was killed",
					v.ID, size(u), mib(v.MiB))})
				break
			}
		}
	}
	return out
}

// over: u is a full measure, or one stopped past the limit, that exceeds
// limitMiB (which bounds something).
func over(u Usage, limitMiB float64) bool {
	l := bytes(limitMiB)
	return u.Err == nil && l > 0 && (u.Over || !u.Partial && u.Bytes > l)
}

// bytes is a size in MiB as bytes, rounded down.
func bytes(m float64) int64 {
	if m <= 0 {
		return 0
	}
	return int64(m * MiB)
}

func mib(m float64) string { return fmt.Sprintf("%g MiB", m) }

// size says how much u counted: "at least" when its walk stopped early.
func size(u Usage) string {
	s := fmt.Sprintf("%.1f MiB", float64(u.Bytes)/MiB)
	if u.Over {
		return "at least " + s
	}
	return s
}
