// Command executor is an example custom executor: it runs each task it is
// given as `sh -c` of the task's "command" label, several at once, and
// reports their states. Frameworks name it in their tasks' ExecutorInfo
// (see the elastic example's --executor flag); the agent starts it.
package main

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/agora-sched/agora/actors/executor"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/cmd/internal/logging"
	"github.com/agora-sched/agora/messages"
)

// taskEnded comes back from the goroutine that waited for a task.
type taskEnded struct {
	id   string
	code int
	err  error
}

// Its log (AGORA_LOG_LEVEL, AGORA_LOG_FORMAT, as the agora binary's) goes
// to stderr, its sandbox's stderr file; its tasks' output to stdout.
func main() {
	log, err := logging.FromEnv().Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(2)
	}
	cfg, err := executor.FromEnv()
	if err != nil {
		log.Error("not started by an agent", "err", err)
		os.Exit(2)
	}
	// The framework gives its executor a certificate through the
	// environment (AGORA_TLS_CA, _CERT, _KEY; see security.Env).
	src, err := security.FromEnv().Load(security.RoleFramework, log)
	if err != nil {
		log.Error("cannot load the framework's certificate", "err", err)
		os.Exit(2)
	}
	node, err := remoting.Start(remoting.Config{Bind: "127.0.0.1:0", Logger: log, TLS: src, Insecure: src == nil})
	if err != nil {
		log.Error("cannot listen", "err", err)
		os.Exit(1)
	}
	defer node.Stop()
	procs := map[string]*exec.Cmd{}
	log.Info("executor started", "executor_id", cfg.ExecutorID)
	node.System.Root.Spawn(executor.Props(cfg, executor.HandlerFunc(func(d *executor.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.LaunchTask:
			id := ev.Task.GetTaskId().GetValue()
			cmd := exec.Command("/bin/sh", "-c", ev.Task.GetLabels()["command"])
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			cmd.Env = append(os.Environ(), "AGORA_TASK_ID="+id)
			if err := cmd.Start(); err != nil {
				d.SendStatus(id, messages.TaskState_TASK_FAILED, err.Error(), nil)
				return
			}
			procs[id] = cmd
			d.SendStatus(id, messages.TaskState_TASK_RUNNING, "", nil)
			log.Info("task running", "task_id", id)
			go func() {
				err := cmd.Wait()
				d.Send(taskEnded{id: id, code: cmd.ProcessState.ExitCode(), err: err})
			}()
		case taskEnded:
			delete(procs, ev.id)
			log.Info("task ended", "task_id", ev.id, "exit_code", ev.code)
			code := int32(ev.code)
			if ev.err == nil {
				d.SendStatus(ev.id, messages.TaskState_TASK_FINISHED, "", &code)
			} else {
				d.SendStatus(ev.id, messages.TaskState_TASK_FAILED, ev.err.Error(), &code)
			}
		case *messages.KillTask:
			if cmd, ok := procs[ev.GetTaskId().GetValue()]; ok {
				_ = cmd.Process.Kill()
				d.SendStatus(ev.GetTaskId().GetValue(), messages.TaskState_TASK_KILLED, "killed by the framework", nil)
			}
		}
	})))
	<-cfg.Done
	log.Info("executor shutting down")
}
