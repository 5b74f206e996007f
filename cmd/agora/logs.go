package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
)

type logsCmd struct {
	MasterHTTP string        `name:"master-http" default:"${defaultHTTP}" env:"AGORA_MASTER_HTTP" help:"The master's HTTP address host:port, or consul://host:port/<cluster>."`
	Task       string        `arg:"" help:"Task ID."`
	Framework  string        `help:"Framework ID, when task IDs repeat across frameworks."`
	Stderr     bool          `help:"Print stderr instead of stdout."`
	Follow     bool          `short:"f" help:"Keep printing as the task writes, until it ends."`
	Timeout    time.Duration `default:"${defaultClientTimeout}" env:"AGORA_TIMEOUT" help:"Give up when the master or the agent has not answered a request by then (0: wait for ever); --follow keeps asking while they answer."`
	Poll       time.Duration `default:"1s" hidden:""`
	TLS        tlsFlags      `embed:""`
}

// Run finds the task's agent through the master, then reads the sandbox
// file from the agent's HTTP API, from an offset so that following prints
// each byte once.
func (c *logsCmd) Run(*slog.Logger) error {
	file := "stdout"
	if c.Stderr {
		file = "stderr"
	}
	src, err := c.TLS.client(security.RoleOperator, quietLogger(slog.Default()))
	if err != nil {
		return err
	}
	client, scheme := security.HTTPClient(src, c.Timeout), security.Scheme(src)
	var offset int64
	for {
		loc, err := c.locate()
		if err != nil {
			return err
		}
		if loc.GetAgent().GetHttpAddress() == "" {
			return fmt.Errorf("task %s: its agent %s is not known to the master now (unreachable or gone)", c.Task, loc.GetTask().GetAgentId().GetValue())
		}
		u := fmt.Sprintf("%s://%s/sandboxes/%s/%s/%s?offset=%d", scheme, loc.Agent.HttpAddress, url.PathEscape(loc.Task.GetFrameworkId().GetValue()),
			url.PathEscape(c.Task), file, offset)
		resp, err := client.Get(u)
		if err != nil {
			return fmt.Errorf("cannot reach the agent's HTTP API at %s: %w", loc.Agent.HttpAddress, err)
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return fmt.Errorf("agent refused: %s", body)
		}
		n, err := io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if next, err := strconv.ParseInt(resp.Header.Get("X-Agora-Offset"), 10, 64); err == nil {
			offset = next
		} else {
			offset += n
		}
		if !c.Follow || (messages.IsTerminal(loc.Task.GetState()) && n == 0) {
			return nil
		}
		time.Sleep(c.Poll) // following a file on another host: polling is the protocol
	}
}

func (c *logsCmd) locate() (*messages.TaskLocation, error) {
	q := "/tasks/" + url.PathEscape(c.Task)
	if c.Framework != "" {
		q += "?framework=" + url.QueryEscape(c.Framework)
	}
	body, err := masterCall(c.TLS, authFlags{}, c.MasterHTTP, c.Timeout, http.MethodGet, q, nil)
	if err != nil {
		return nil, err
	}
	loc := &messages.TaskLocation{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, loc); err != nil {
		return nil, fmt.Errorf("unreadable answer from the master: %w", err)
	}
	return loc, nil
}
