package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

type runCmd struct {
	Master  string        `default:"${defaultMasterListen}" env:"AGORA_MASTER" help:"The master's remoting address host:port."`
	Listen  string        `default:"127.0.0.1:0" env:"AGORA_RUN_LISTEN" help:"host:port this client listens on; the master must reach it."`
	CPUs    float64       `name:"cpus" default:"0.1" help:"CPUs for the task."`
	Mem     float64       `name:"mem" default:"32" help:"Memory for the task, MiB."`
	Name    string        `default:"agora-run" help:"Framework and task name."`
	Role    string        `default:"default" help:"Role to run under."`
	Timeout time.Duration `default:"0s" help:"Give up if the task has not ended by then (0: wait forever)."`
	Command []string      `arg:"" passthrough:"" help:"The command and its arguments (after --)."`

	// TLS: a framework certificate (agora dev's, by default).
	TLS tlsFlags `embed:""`
}

// runOptions is what runTask needs.
type runOptions struct {
	name, role string
	cpus, mem  float64
	argv       []string
	stdout     io.Writer
	stderr     io.Writer
	// tls is the certificate to read the task's output from its agent
	// with (nil: plain HTTP).
	tls *security.Source
}

// runOutcome is how the task ended, handed from the scheduler actor to
// the caller's goroutine.
type runOutcome struct {
	status    *messages.TaskStatus
	agentHTTP string
	framework string
	err       error
}

// runTask registers a framework, waits for a fitting offer, launches one
// task, reports its states on stderr, prints its output, and returns its
// exit code.
func runTask(ctx context.Context, sys *actor.ActorSystem, masterPID *actor.PID, o runOptions) (int, error) {
	if len(o.argv) == 0 {
		return 1, errors.New("no command given: agora run [flags] -- CMD ARGS...")
	}
	want := []*messages.Resource{{Name: messages.CPUs, Scalar: o.cpus}, {Name: messages.Mem, Scalar: o.mem}}
	if err := messages.ValidateResources(want); err != nil {
		return 1, err
	}
	task := &messages.TaskInfo{
		Name: o.name, TaskId: &messages.TaskID{Value: fmt.Sprintf("%s-%d", o.name, time.Now().UnixNano())}, Resources: want,
		Command: &messages.CommandInfo{Value: o.argv[0], Arguments: o.argv[1:]},
	}
	done := make(chan runOutcome, 1)
	var agentHTTP string
	launched := false
	handler := scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.FrameworkSubscribed:
			fmt.Fprintf(o.stderr, "agora run: registered as framework %s; waiting for an offer with %s\n", ev.FrameworkId.GetValue(), messages.FormatResources(want))
		case *messages.Offers:
			for _, offer := range ev.Offers {
				if !launched && scheduler.Fits(offer.Resources, want) {
					launched = true
					agentHTTP = offer.AgentHttpAddress
					fmt.Fprintf(o.stderr, "agora run: launching task %s on %s\n", task.TaskId.Value, offer.Hostname)
					d.Launch([]*messages.Offer{offer}, task)
					continue
				}
				if !launched {
					fmt.Fprintf(o.stderr, "agora run: offer from %s (%s) is too small; still waiting\n", offer.Hostname, messages.FormatResources(offer.Resources))
				}
				d.Decline([]*messages.OfferID{offer.Id}, 60)
			}
		case *messages.StatusUpdate:
			st := ev.Status
			line := fmt.Sprintf("agora run: task %s is %s", st.TaskId.GetValue(), st.State)
			if st.Message != "" {
				line += ": " + st.Message
			}
			fmt.Fprintln(o.stderr, line)
			if messages.IsTerminal(st.State) {
				done <- runOutcome{status: st, agentHTTP: agentHTTP, framework: d.FrameworkID()}
				d.Teardown()
			}
		case *messages.Error:
			// Refused for good: the framework is gone, or the access
			// control list does not let this principal in (or run as).
			if (ev.Code == messages.Error_UNKNOWN_FRAMEWORK || ev.Code == messages.Error_PERMISSION_DENIED) && !launched {
				done <- runOutcome{err: errors.New(ev.Message)}
			}
		}
	})
	pid := sys.Root.Spawn(scheduler.Props(scheduler.Config{
		Master: masterPID,
		Info: &messages.FrameworkInfo{Name: o.name, User: os.Getenv("USER"), Roles: []string{o.role},
			FailoverTimeoutNanos: int64(time.Minute)},
		Logger: slog.New(slog.DiscardHandler),
	}, handler))
	defer sys.Root.Stop(pid)

	waiting := time.NewTicker(10 * time.Second)
	defer waiting.Stop()
	start := time.Now()
	for {
		select {
		case out := <-done:
			if out.err != nil {
				return 1, out.err
			}
			printOutput(out, o)
			return exitCode(out.status), nil
		case <-waiting.C:
			if !launched {
				fmt.Fprintf(o.stderr, "agora run: still waiting for an offer with %s (%v)\n", messages.FormatResources(want), time.Since(start).Round(time.Second))
			}
		case <-ctx.Done():
			return 1, fmt.Errorf("gave up: %w", ctx.Err())
		}
	}
}

// printOutput copies the task's sandbox stdout and stderr from its agent.
func printOutput(out runOutcome, o runOptions) {
	if out.agentHTTP == "" {
		return
	}
	client, scheme := security.HTTPClient(o.tls, 10*time.Second), security.Scheme(o.tls)
	for file, w := range map[string]io.Writer{"stdout": o.stdout, "stderr": o.stderr} {
		url := fmt.Sprintf("%s://%s/sandboxes/%s/%s/%s", scheme, out.agentHTTP, out.framework, out.status.TaskId.GetValue(), file)
		resp, err := client.Get(url)
		if err != nil {
			fmt.Fprintf(o.stderr, "agora run: cannot read the task's %s from its agent: %v\n", file, err)
			continue
		}
		if resp.StatusCode == http.StatusOK {
			_, _ = io.Copy(w, resp.Body)
		}
		resp.Body.Close()
	}
}

func exitCode(st *messages.TaskStatus) int {
	switch {
	case st.State == messages.TaskState_TASK_FINISHED:
		return 0
	case st.ExitCode != nil && *st.ExitCode > 0:
		return int(*st.ExitCode)
	}
	return 1
}

func (c *runCmd) Run(logger *slog.Logger) error {
	src, err := c.TLS.client(security.RoleFramework, quietLogger(logger))
	if err != nil {
		return err
	}
	node, err := remoting.Start(remoting.Config{Bind: c.Listen, Logger: quietLogger(logger), TLS: src, Insecure: src == nil})
	if err != nil {
		return err
	}
	defer node.Stop()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	argv := c.Command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:] // kong's passthrough keeps the separator
	}
	code, err := runTask(ctx, node.System, actor.NewPID(c.Master, master.Name), runOptions{
		name: c.Name, role: c.Role, cpus: c.CPUs, mem: c.Mem, argv: argv, stdout: os.Stdout, stderr: os.Stderr,
		tls: src,
	})
	if err != nil {
		return err
	}
	node.Stop()
	os.Exit(code)
	return nil
}

// quietLogger keeps a CLI's remoting logs to warnings unless debugging.
func quietLogger(l *slog.Logger) *slog.Logger {
	if l.Enabled(context.Background(), slog.LevelDebug) {
		return l
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
