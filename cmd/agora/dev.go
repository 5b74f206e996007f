package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/asynkron/protoactor-go/actor"
)

type devCmd struct {
	Listen     string        `env:"AGORA_LISTEN" help:"host:port for remoting (default ${defaultMasterListen}; a free port with --demo); port 0 picks a free port."`
	HTTP       string        `name:"http" env:"AGORA_HTTP" help:"host:port of the master's HTTP API (default ${defaultHTTP}; a free port with --demo); port 0 picks a free port."`
	AgentHTTP  string        `name:"agent-http" env:"AGORA_AGENT_HTTP" help:"host:port of the agent's HTTP API, which agora logs reads sandboxes from (default ${defaultAgentHTTP}; a free port with --demo); port 0 picks a free port."`
	ReadyFile  string        `name:"ready-file" env:"AGORA_READY_FILE" help:"Once the cluster serves, write the addresses it bound to this file as JSON (pid, remoting, http, agent_http), as agora node does (see agora node --help)."`
	WorkDir    string        `name:"work-dir" env:"AGORA_WORK_DIR" help:"Agent work dir (default: agora-dev under the temp dir, kept across runs)."`
	Resources  string        `env:"AGORA_RESOURCES" help:"Agent resources in Mesos syntax; unnamed ones are detected."`
	Attributes string        `env:"AGORA_ATTRIBUTES" help:"Agent attributes, e.g. 'rack:r1'."`
	TaskUser   string        `name:"task-user" default:"nobody" env:"AGORA_TASK_USER" help:"User that tasks naming none run as, when the agent runs as root (see agora node --help)."`
	Demo       bool          `help:"Start the cluster, show it once the agent has registered, and exit (make demo). Uses free ports unless --listen, --http or --agent-http are given."`
	Timeout    time.Duration `default:"60s" help:"With --demo: give up if the agent has not registered by then."`

	// TLS: given nothing, dev makes a CA and certificates under its work
	// dir (or reuses them) and uses those.
	TLS tlsFlags `embed:""`
}

// devTLS makes (or reuses) the dev cluster's CA and a certificate of each
// role in dir: the node's, and those agora status, agora run and the
// example frameworks pick up.
func devTLS(dir string, listen string) error {
	hosts := []string{"localhost", "127.0.0.1"}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" && h != "0.0.0.0" && h != "localhost" && h != "127.0.0.1" {
		hosts = append(hosts, h)
	}
	names := map[security.Role]string{}
	for _, r := range security.Roles {
		names[r] = "dev"
	}
	made, err := security.Bootstrap(dir, names, hosts, time.Now())
	if err != nil {
		return fmt.Errorf("dev certificates in %s: %w (or run with --insecure)", dir, err)
	}
	if made {
		fmt.Printf("Made a CA and certificates for the dev cluster in %s\n", dir)
	}
	return nil
}

func (c *devCmd) Run(logger *slog.Logger) error {
	if c.WorkDir == "" {
		c.WorkDir = filepath.Join(os.TempDir(), "agora-dev")
	}
	listen, httpAddr, agentHTTP := defaultMasterListen, defaultHTTP, defaultAgentHTTP
	if c.Demo {
		// A demo must not fail because a real cluster holds the defaults.
		listen, httpAddr, agentHTTP = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	}
	if c.Listen != "" {
		listen = c.Listen
	}
	if c.HTTP != "" {
		httpAddr = c.HTTP
	}
	if c.AgentHTTP != "" {
		agentHTTP = c.AgentHTTP
	}
	tlsFlags := c.TLS
	if !tlsFlags.Insecure && tlsFlags.TLSCA == "" && tlsFlags.TLSCert == "" && tlsFlags.TLSKey == "" && tlsFlags.TLSDir == "" {
		tlsFlags.TLSDir = filepath.Join(c.WorkDir, "tls")
		if err := devTLS(tlsFlags.TLSDir, listen); err != nil {
			return err
		}
	}
	n := nodeCmd{
		Role: "master,agent", Listen: listen, HTTP: httpAddr, AgentHTTP: agentHTTP, WorkDir: c.WorkDir,
		AllocationInterval: time.Second, OfferTimeout: 30 * time.Second, FrameworkHeartbeat: 15 * time.Second,
		Resources: c.Resources, Attributes: c.Attributes, Hostname: "localhost",
		HeartbeatInterval: "auto", HeartbeatMinInterval: 5 * time.Second, MaxHeartbeatRate: 500, MaxMissedHeartbeats: 3,
		Allocator: "drf", Isolation: "cgroups", TaskUser: c.TaskUser, ReclaimInterval: 15 * time.Second, PreemptionGrace: 5 * time.Second, RevocableAbove: "never",
		RegistrationBackoff: 500 * time.Millisecond, RegistrationMax: 10 * time.Second, ReadyFile: c.ReadyFile, TLS: tlsFlags,
		HTTPReadTimeout: 30 * time.Second, DiskWatchInterval: 15 * time.Second, EnforceContainerDiskQuota: true,
	}
	n.setLimits(core.DefaultLimits())
	r, err := n.start(logger)
	if err != nil {
		return err
	}
	defer r.stop()
	fmt.Printf("Agora dev cluster: master %s, HTTP %s, agent HTTP %s, agent work dir %s\n", r.node.Address, r.httpURL, r.ready.AgentHTTP, c.WorkDir)
	if tlsFlags.TLSDir != "" && !tlsFlags.Insecure {
		fmt.Printf("TLS: mutual, with the certificates in %s (agora status, agora run and the examples look there by default)\n", tlsFlags.TLSDir)
		if tlsFlags.TLSDir != security.DevDir() {
			fmt.Printf("     elsewhere than the default: export AGORA_TLS_DIR=%s\n", tlsFlags.TLSDir)
		}
	}
	if !c.Demo {
		fmt.Printf("Try: agora status --master-http %s   (Ctrl-C stops the cluster)\n", r.ready.HTTP)
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		return nil
	}
	deadline := time.After(c.Timeout)
	for {
		changed := r.pub.Changed()
		if s := r.pub.Latest(); s != nil && len(s.State.Agents) > 0 {
			fmt.Println()
			printState(os.Stdout, s.State)
			fmt.Println("\nThe agent registered. Running a task through the offer loop: agora run -- echo hello from agora")
			ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
			defer cancel()
			code, err := runTask(ctx, r.node.System, actor.NewPID(r.node.Address, master.Name), runOptions{
				name: "demo", role: "default", cpus: 0.1, mem: 32, argv: []string{"echo", "hello from agora"},
				stdout: os.Stdout, stderr: os.Stdout, tls: r.tls,
			})
			if err != nil {
				return fmt.Errorf("demo task: %w", err)
			}
			if code != 0 {
				return fmt.Errorf("demo task exited with code %d", code)
			}
			fmt.Println("\nDemo done: a master and an agent ran a task.")
			return nil
		}
		select {
		case <-changed:
		case <-deadline:
			return fmt.Errorf("demo: no agent registered within %v; rerun with --log-level=debug", c.Timeout)
		}
	}
}
