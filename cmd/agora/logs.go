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
	Auth       authFlags     `embed:""`

	agent  *http.Client // the agents' HTTP APIs, with the operator's certificate
	scheme string
}

// Run finds the task's agent through the master, then reads the sandbox
// file from an offset, so that following prints each byte once: from the
// agent's HTTP API with an operator certificate, or through the master
// (GET /tasks/{task}/files/{file}) with --principal/--secret, because only
// the master checks credentials (an agent knows certificates only).
func (c *logsCmd) Run(*slog.Logger) error {
	file := "stdout"
	if c.Stderr {
		file = "stderr"
	}
	read := c.readAgent
	if c.Auth.Principal != "" || c.Auth.Secret != "" {
		read = c.readMaster
	} else {
		src, err := c.TLS.client(security.RoleOperator, quietLogger(slog.Default()))
		if err != nil {
			return fmt.Errorf("%w (or authenticate with --principal and --secret, AGORA_PRINCIPAL/AGORA_SECRET, from the master's --credentials)", err)
		}
		c.agent, c.scheme = security.HTTPClient(src, c.Timeout), security.Scheme(src)
	}
	var offset int64
	for {
		loc, err := c.locate()
		if err != nil {
			return err
		}
		if loc.GetAgent().GetHttpAddress() == "" {
			return fmt.Errorf("task %s: its agent %s is not known to the master now (unreachable or gone)", c.Task, loc.GetTask().GetAgentId().GetValue())
		}
		data, next, size, err := read(loc, file, offset)
		if err != nil {
			return err
		}
		if _, err := os.Stdout.Write(data); err != nil {
			return err
		}
		offset = next
		if offset < size {
			continue // a large file comes in several reads
		}
		if !c.Follow || (messages.IsTerminal(loc.Task.GetState()) && len(data) == 0) {
			return nil
		}
		time.Sleep(c.Poll) // following a file on another host: polling is the protocol
	}
}

// readAgent reads file from offset from the agent's HTTP API: the bytes,
// the offset after them, and the file's size.
func (c *logsCmd) readAgent(loc *messages.TaskLocation, file string, offset int64) ([]byte, int64, int64, error) {
	u := fmt.Sprintf("%s://%s/sandboxes/%s/%s/%s?offset=%d", c.scheme, loc.Agent.HttpAddress, url.PathEscape(loc.Task.GetFrameworkId().GetValue()),
		url.PathEscape(c.Task), file, offset)
	resp, err := c.agent.Get(u)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot reach the agent's HTTP API at %s: %w", loc.Agent.HttpAddress, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, 0, 0, fmt.Errorf("agent refused: %s", body)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("reading the agent's answer at %s: %w", loc.Agent.HttpAddress, err)
	}
	next, err := strconv.ParseInt(resp.Header.Get("X-Agora-Offset"), 10, 64)
	if err != nil {
		next = offset + int64(len(data))
	}
	return data, next, next, nil // the agent serves all it has
}

// readMaster reads file from offset through the master, signed with the
// credentials.
func (c *logsCmd) readMaster(loc *messages.TaskLocation, file string, offset int64) ([]byte, int64, int64, error) {
	q := fmt.Sprintf("/tasks/%s/files/%s?framework=%s&offset=%d", url.PathEscape(c.Task), file, url.QueryEscape(loc.Task.GetFrameworkId().GetValue()), offset)
	data, h, err := masterCallHeader(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodGet, q, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	next, err1 := strconv.ParseInt(h.Get("X-Agora-Offset"), 10, 64)
	size, err2 := strconv.ParseInt(h.Get("X-Agora-Size"), 10, 64)
	if err1 != nil || err2 != nil {
		return nil, 0, 0, fmt.Errorf("the master at %s answered %s without X-Agora-Offset and X-Agora-Size: is it older than this agora?", c.MasterHTTP, q)
	}
	return data, next, size, nil
}

func (c *logsCmd) locate() (*messages.TaskLocation, error) {
	q := "/tasks/" + url.PathEscape(c.Task)
	if c.Framework != "" {
		q += "?framework=" + url.QueryEscape(c.Framework)
	}
	body, err := masterCall(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodGet, q, nil)
	if err != nil {
		return nil, err
	}
	loc := &messages.TaskLocation{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, loc); err != nil {
		return nil, fmt.Errorf("unreadable answer from the master: %w", err)
	}
	return loc, nil
}
