package agent

// WithDiskHook returns cfg with hook run off the actor before each
// checkpoint write or removal and before a sandbox is removed, with its
// path: a test can hold one back to see what the agent does (and does not
// do) meanwhile.
func WithDiskHook(cfg Config, hook func(path string)) Config {
	cfg.diskHook = hook
	return cfg
}

// DiskLaneOfTask is the disk writer lane of a task's checkpoint: ops of
// tasks in one lane are carried out in the order they were asked for.
func DiskLaneOfTask(framework, task string) int {
	d := newDisk()
	l := d.lane(taskOwner(taskKey{framework, task}))
	for i, x := range d.lanes {
		if x == l {
			return i
		}
	}
	return -1
}

// TaskCheckpointPath is where an agent with work dir workDir keeps the
// checkpoint of a task.
func TaskCheckpointPath(workDir, framework, task string) string {
	return (&agent{cfg: Config{WorkDir: workDir}}).taskCheckpointPath(taskKey{framework, task})
}

// CheckpointExt ends the name of every checkpoint file.
const CheckpointExt = checkpointExt

// ExecutorCheckpointPath is where an agent with work dir workDir keeps the
// checkpoint of an executor.
func ExecutorCheckpointPath(workDir, framework, executor string) string {
	return (&agent{cfg: Config{WorkDir: workDir}}).executorCheckpointPath(executorKey{framework, executor})
}
