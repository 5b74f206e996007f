// Command agora runs Agora nodes and talks to a running cluster.
//
//	agora dev                         an all-in-one cluster to try things
//	agora node --role=master          a master
//	agora node --role=agent --master=HOST:PORT
//	agora status                      the cluster as a table
//	agora sim WORKLOAD.yaml           a simulated cluster, reported
//	agora tls ca / agora tls cert     certificates for a new cluster
//	agora acls get / agora acls set   the access control list the masters enforce
//
// Every flag can also be set through the environment variable named in
// `agora COMMAND --help` (AGORA_...).
package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cmd/internal/logging"
	"github.com/alecthomas/kong"
)

type cli struct {
	LogLevel  string `name:"log-level" enum:"debug,info,warn,error" default:"info" env:"AGORA_LOG_LEVEL" help:"Log level: debug, info, warn, error."`
	LogFormat string `name:"log-format" enum:"text,json" default:"text" env:"AGORA_LOG_FORMAT" help:"Log format: text or json."`

	Node        nodeCmd        `cmd:"" help:"Run a master, an agent, or both in this process."`
	Dev         devCmd         `cmd:"" help:"Run an all-in-one cluster (master and agent) on this machine, with no Consul needed."`
	Status      statusCmd      `cmd:"" help:"Show the cluster's state."`
	Run         runCmd         `cmd:"" help:"Run one command as a task and print its output (like mesos-execute): agora run -- CMD ARGS..."`
	Logs        logsCmd        `cmd:"" help:"Print a task's stdout (or --stderr) from its agent's sandbox; --follow to keep printing."`
	Tasks       tasksCmd       `cmd:"" help:"List tasks, or kill one: agora tasks [kill ID]."`
	Frameworks  frameworksCmd  `cmd:"" help:"List frameworks, describe one, or tear one down."`
	Agents      agentsCmd      `cmd:"" help:"List agents, or describe one."`
	Reserve     reserveCmd     `cmd:"" help:"Reserve free resources of an agent for a role: agora reserve AGENT 'cpus(prod):2;mem(prod):1024'."`
	Unreserve   unreserveCmd   `cmd:"" help:"Give dynamically reserved resources of an agent back: agora unreserve AGENT 'cpus(prod):2'."`
	Volumes     volumesCmd     `cmd:"" help:"List, create or destroy persistent volumes on reserved disk: agora volumes create AGENT --role prod db:data:512."`
	Maintenance maintenanceCmd `cmd:"" help:"Schedule maintenance windows (agents drain at the start, come back at the end), show or clear them."`
	Roles       rolesCmd       `cmd:"" help:"Show role weights and quotas."`
	Quota       quotaCmd       `cmd:"" help:"Set or clear a role's quota."`
	Weights     weightsCmd     `cmd:"" help:"Set a role's weight."`
	ACLs        aclsCmd        `cmd:"" name:"acls" help:"Show or replace the access control list the masters enforce."`
	Sim         simCmd         `cmd:"" help:"Run a workload file on a simulated cluster in this process and report utilization, fairness, waits and faults."`
	TLS         tlsCmd         `cmd:"" name:"tls" help:"Create a CA and certificates for a cluster (TLS is on by default)."`
	Version     versionCmd     `cmd:"" help:"Print the version."`
}

// logger is the one setup the examples share (package logging); kong has
// checked both values.
func (c *cli) logger() *slog.Logger {
	logger, err := logging.Options{Level: c.LogLevel, Format: c.LogFormat}.New(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agora:", err)
		os.Exit(2)
	}
	return logger
}

// vars are the values flag help and defaults name.
func vars() kong.Vars {
	return kong.Vars{
		"defaultMasterListen": defaultMasterListen, "defaultAgentListen": defaultAgentListen, "defaultHTTP": defaultHTTP, "defaultAgentHTTP": defaultAgentHTTP,
		"allocators": strings.Join(allocator.Names(), ", "), "defaultMaxAgentResources": core.DefaultMaxAgentResources,
		"defaultClientTimeout": defaultClientTimeout.String(),
	}
}

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("agora"),
		kong.Description("Agora: a cluster resource manager in the line of Apache Mesos."),
		kong.UsageOnError(),
		// Every flag has an environment variable, AGORA_ and its name
		// (--master-http: AGORA_MASTER_HTTP), unless it names its own.
		kong.DefaultEnvars("AGORA"),
		vars(),
	)
	logger := c.logger()
	slog.SetDefault(logger)
	if err := ctx.Run(logger); err != nil {
		fmt.Fprintln(os.Stderr, "agora:", err)
		os.Exit(1)
	}
}
