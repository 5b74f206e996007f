package main

// A master that does not know it was replaced: the test binary, started
// with staleMasterEnv naming a JSON file of commands, holds a master's
// certificate and sends each RunTask or KillTask to its agent over
// remoting, stamped with the epoch given. The chaos run starts it in the
// deposed leader's own namespace (cut from Consul, still reaching the
// agents), with the deposed leader's epoch: agents must refuse every
// command. With the current epoch it is an injected bug instead (a master
// that launches a task twice), which the checker must catch.

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit/netlab"
	"github.com/asynkron/protoactor-go/actor"
)

const staleMasterEnv = "AGORA_TEST_STALE_MASTER"

// staleCommand is one command for one agent.
type staleCommand struct {
	Agent       string // the agent's remoting address
	Kill        bool   // KillTask; else RunTask
	Epoch       uint64
	FrameworkID string
	TaskID      string
	AgentID     string // the agent's ID, named in the task
}

type staleOrders struct {
	Bind     string // this process's remoting address (its host's IP:0)
	Commands []staleCommand
}

// staleMaster is the helper's side; it stays up (remoting delivers after
// Send returns) until the test stops it.
func staleMaster(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Println("stale master:", err)
		return 1
	}
	var orders staleOrders
	if err := json.Unmarshal(b, &orders); err != nil {
		fmt.Println("stale master:", err)
		return 1
	}
	src, err := security.FromEnv().Load(security.RoleMaster, nil)
	if err != nil {
		fmt.Println("stale master:", err)
		return 1
	}
	node, err := remoting.Start(remoting.Config{Bind: orders.Bind, TLS: src})
	if err != nil {
		fmt.Println("stale master:", err)
		return 1
	}
	defer node.Stop()
	res, err := messages.ParseResources("cpus:0.5;mem:64")
	if err != nil {
		fmt.Println("stale master:", err)
		return 1
	}
	for _, c := range orders.Commands {
		agent := actor.NewPID(c.Agent, "agent")
		fw := &messages.FrameworkID{Value: c.FrameworkID}
		task := &messages.TaskID{Value: c.TaskID}
		if c.Kill {
			node.System.Root.Send(agent, &messages.KillTask{FrameworkId: fw, TaskId: task, AgentId: &messages.AgentID{Value: c.AgentID}, MasterEpoch: c.Epoch})
			continue
		}
		node.System.Root.Send(agent, &messages.RunTask{MasterEpoch: c.Epoch, Role: "batch",
			Framework: &messages.FrameworkInfo{Id: fw, Name: "elastic", Roles: []string{"batch"},
				Capabilities: []messages.Capability{messages.Capability_PARTITION_AWARE}},
			Task: &messages.TaskInfo{Name: c.TaskID, TaskId: task, AgentId: &messages.AgentID{Value: c.AgentID}, Resources: res,
				Command: &messages.CommandInfo{Value: "sleep 600", Shell: true}}})
	}
	fmt.Println("sent", len(orders.Commands))
	select {}
}

// startStaleMaster runs the helper in host with orders, once it has sent
// them all.
func startStaleMaster(t *testing.T, host *netlab.Host, orders staleOrders) *netlab.Proc {
	t.Helper()
	orders.Bind = host.Addr(0)
	b, err := json.Marshal(orders)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/orders.json"
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := host.Start(t, netlab.Process{Name: "stale-master", Path: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{staleMasterEnv + "=" + path}})
	p.WaitFor(t, "sent", 30e9)
	return p
}
