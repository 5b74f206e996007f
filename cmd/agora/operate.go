package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Operators' nouns, as kubectl and nomad have them: agora tasks,
// agora frameworks, agora agents; each lists by default, and describes or
// acts on one by ID.

// masterFlags are what every operator command needs to reach the master.
type masterFlags struct {
	MasterHTTP string        `name:"master-http" default:"${defaultHTTP}" env:"AGORA_MASTER_HTTP" help:"The master's HTTP address host:port (a standby redirects), or consul://host:port/<cluster>."`
	Timeout    time.Duration `default:"${defaultClientTimeout}" env:"AGORA_TIMEOUT" help:"Give up when the master has not answered by then (finding the leader in Consul included; 0: wait for ever)."`
	TLS        tlsFlags      `embed:""`
	Auth       authFlags     `embed:""`
}

func (f masterFlags) get(path string, into proto.Message) ([]byte, error) {
	body, err := masterCall(f.TLS, f.Auth, f.MasterHTTP, f.Timeout, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if into != nil {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, into); err != nil {
			return nil, fmt.Errorf("the master's answer is not readable by this agora (version mismatch?): %w", err)
		}
	}
	return body, nil
}

func (f masterFlags) state() (*messages.MasterState, error) {
	st := &messages.MasterState{}
	_, err := f.get("/state", st)
	return st, err
}

type tasksCmd struct {
	List tasksListCmd `cmd:"" default:"withargs" help:"List tasks (the default): agora tasks [--framework ID] [--agent ID] [--state running|active|...]."`
	Kill tasksKillCmd `cmd:"" help:"Kill a task of any framework: agora tasks kill TASK_ID [--framework ID]."`
}

type tasksListCmd struct {
	masterFlags
	Framework string `help:"Only this framework's tasks."`
	Agent     string `help:"Only tasks on this agent."`
	State     string `help:"Only tasks in this state (TASK_RUNNING or running), or active for every state that has not ended."`
	Limit     uint32 `default:"100" help:"Tasks per page (at most 1000)."`
	After     string `help:"Start after this cursor (the last page printed it)."`
	All       bool   `help:"Print every page, not only the first."`
	JSON      bool   `name:"json" help:"Print the master's answer as JSON."`
}

func (c *tasksListCmd) Run(*slog.Logger) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	after := c.After
	for first := true; ; first = false {
		q := url.Values{}
		for k, v := range map[string]string{"framework": c.Framework, "agent": c.Agent, "state": c.State, "after": after, "limit": fmt.Sprint(c.Limit)} {
			if v != "" {
				q.Set(k, v)
			}
		}
		list := &messages.TaskList{}
		body, err := c.get("/tasks?"+q.Encode(), list)
		if err != nil {
			return err
		}
		if c.JSON {
			if _, err := os.Stdout.Write(body); err != nil {
				return err
			}
		} else {
			if first {
				fmt.Fprintln(tw, "TASK ID\tFRAMEWORK ID\tAGENT ID\tSTATE\tRESOURCES\tUPDATED")
			}
			for _, t := range list.Tasks {
				updated := "-"
				if ts := t.GetLatestStatus().GetTimestampUnixNano(); ts > 0 {
					updated = time.Unix(0, ts).Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.GetTaskId().GetValue(), t.GetFrameworkId().GetValue(), t.GetAgentId().GetValue(),
					t.State, messages.FormatResources(t.Resources), updated)
			}
		}
		if list.Next == "" || !c.All {
			if !c.JSON {
				_ = tw.Flush()
				if list.Next != "" {
					fmt.Fprintf(os.Stderr, "%d tasks in all; next page: --after %s (or --all)\n", list.Total, list.Next)
				}
			}
			return nil
		}
		after = list.Next
	}
}

type tasksKillCmd struct {
	masterFlags
	Task      string `arg:"" help:"Task ID."`
	Framework string `help:"Framework ID, when task IDs repeat across frameworks."`
}

func (c *tasksKillCmd) Run(*slog.Logger) error {
	path := "/tasks/" + url.PathEscape(c.Task) + "/kill"
	if c.Framework != "" {
		path += "?framework=" + url.QueryEscape(c.Framework)
	}
	return c.post(path)
}

func (f masterFlags) post(path string) error { return f.postBody(path, nil) }

// postBody posts payload and prints the master's OperatorAccepted.
func (f masterFlags) postBody(path string, payload []byte) error {
	body, err := masterCall(f.TLS, f.Auth, f.MasterHTTP, f.Timeout, http.MethodPost, path, payload)
	if err != nil {
		return err
	}
	ok := &messages.OperatorAccepted{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, ok); err != nil {
		return fmt.Errorf("the master's answer is not readable by this agora: %w", err)
	}
	fmt.Println(ok.Message)
	return nil
}

type frameworksCmd struct {
	List     frameworksListCmd     `cmd:"" default:"withargs" help:"List frameworks (the default)."`
	Describe frameworksDescribeCmd `cmd:"" help:"Show one framework and its tasks: agora frameworks describe ID."`
	Teardown frameworksTeardownCmd `cmd:"" help:"Remove a framework: its offers are rescinded and its tasks killed."`
}

type frameworksListCmd struct {
	masterFlags
	JSON bool `name:"json" help:"Print the frameworks as JSON."`
}

func (c *frameworksListCmd) Run(*slog.Logger) error {
	st, err := c.state()
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(os.Stdout, &messages.MasterState{Frameworks: st.Frameworks})
	}
	printFrameworks(os.Stdout, st.Frameworks)
	return nil
}

type frameworksDescribeCmd struct {
	masterFlags
	ID   string `arg:"" help:"Framework ID."`
	JSON bool   `name:"json" help:"Print the framework as JSON."`
}

func (c *frameworksDescribeCmd) Run(*slog.Logger) error {
	st, err := c.state()
	if err != nil {
		return err
	}
	for _, f := range st.Frameworks {
		if f.Info.GetId().GetValue() != c.ID {
			continue
		}
		if c.JSON {
			return printJSON(os.Stdout, f)
		}
		i := f.Info
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		for _, kv := range [][2]string{
			{"ID", i.GetId().GetValue()}, {"Name", i.GetName()}, {"Principal", dash(i.GetPrincipal())}, {"User", dash(i.GetUser())},
			{"Roles", strings.Join(i.GetRoles(), ", ")}, {"Connected", fmt.Sprint(f.Connected)}, {"Tearing down", fmt.Sprint(f.TearingDown)},
			{"Failover timeout", time.Duration(i.GetFailoverTimeoutNanos()).String()},
			{"Used", dash(messages.FormatResources(f.Used))}, {"Offered", dash(messages.FormatResources(f.Offered))},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
		}
		_ = tw.Flush()
		printPending(os.Stdout, st, f)
		fmt.Println()
		list := &tasksListCmd{masterFlags: c.masterFlags, Framework: c.ID, Limit: 100}
		return list.Run(nil)
	}
	return fmt.Errorf("no framework %q on the master (agora frameworks lists them)", c.ID)
}

type frameworksTeardownCmd struct {
	masterFlags
	ID string `arg:"" help:"Framework ID."`
}

func (c *frameworksTeardownCmd) Run(*slog.Logger) error {
	return c.post("/frameworks/" + url.PathEscape(c.ID) + "/teardown")
}

type agentsCmd struct {
	List       agentsListCmd       `cmd:"" default:"withargs" help:"List agents (the default)."`
	Describe   agentsDescribeCmd   `cmd:"" help:"Show one agent and its tasks: agora agents describe ID."`
	Drain      agentsDrainCmd      `cmd:"" help:"Drain an agent: offered to nobody, its frameworks told, what still runs at the deadline killed."`
	Reactivate agentsReactivateCmd `cmd:"" help:"End an agent's drain: it is offered again."`
	Remove     agentsRemoveCmd     `cmd:"" help:"Remove an agent for good: its tasks end (TASK_GONE_BY_OPERATOR, or TASK_LOST), its ID may not register again."`
}

type agentsRemoveCmd struct {
	masterFlags
	ID string `arg:"" help:"Agent ID (or its hostname)."`
}

func (c *agentsRemoveCmd) Run(*slog.Logger) error {
	id, err := c.agentID(c.ID)
	if err != nil {
		return err
	}
	return c.post("/agents/" + url.PathEscape(id) + "/remove")
}

type agentsDrainCmd struct {
	masterFlags
	ID       string        `arg:"" help:"Agent ID (or its hostname)."`
	Deadline time.Duration `default:"10m" help:"How long frameworks have to move their tasks before they are killed (0: at once)."`
}

func (c *agentsDrainCmd) Run(*slog.Logger) error {
	if c.Deadline < 0 {
		return fmt.Errorf("--deadline %v: want 0 or more", c.Deadline)
	}
	id, err := c.agentID(c.ID)
	if err != nil {
		return err
	}
	return c.post("/agents/" + url.PathEscape(id) + "/drain?deadline=" + url.QueryEscape(c.Deadline.String()))
}

type agentsReactivateCmd struct {
	masterFlags
	ID string `arg:"" help:"Agent ID (or its hostname)."`
}

func (c *agentsReactivateCmd) Run(*slog.Logger) error {
	id, err := c.agentID(c.ID)
	if err != nil {
		return err
	}
	return c.post("/agents/" + url.PathEscape(id) + "/reactivate")
}

// agentID resolves an agent named by ID or hostname; a name the state does
// not show is passed on as an ID, for the master to answer.
func (f masterFlags) agentID(name string) (string, error) {
	st, err := f.state()
	if err != nil {
		return "", err
	}
	for _, a := range st.Agents {
		if a.Info.GetId().GetValue() == name {
			return name, nil
		}
	}
	for _, a := range st.Agents {
		if a.Info.GetHostname() == name {
			return a.Info.GetId().GetValue(), nil
		}
	}
	return name, nil
}

type agentsListCmd struct {
	masterFlags
	JSON bool `name:"json" help:"Print the agents as JSON."`
}

func (c *agentsListCmd) Run(*slog.Logger) error {
	st, err := c.state()
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(os.Stdout, &messages.MasterState{Agents: st.Agents})
	}
	printAgents(os.Stdout, st, st.Agents)
	return nil
}

type agentsDescribeCmd struct {
	masterFlags
	ID   string `arg:"" help:"Agent ID (or its hostname)."`
	JSON bool   `name:"json" help:"Print the agent as JSON."`
}

func (c *agentsDescribeCmd) Run(*slog.Logger) error {
	st, err := c.state()
	if err != nil {
		return err
	}
	for _, a := range st.Agents {
		if a.Info.GetId().GetValue() != c.ID && a.Info.GetHostname() != c.ID {
			continue
		}
		if c.JSON {
			return printJSON(os.Stdout, a)
		}
		printAgents(os.Stdout, st, []*messages.AgentState{a})
		fmt.Println()
		list := &tasksListCmd{masterFlags: c.masterFlags, Agent: a.Info.GetId().GetValue(), Limit: 100}
		return list.Run(nil)
	}
	return fmt.Errorf("no agent %q on the master (agora agents lists them)", c.ID)
}

// printPending says why a framework may be waiting: what it was offered
// and declined, the agents its filters keep from it, the roles it
// suppressed (Mesos operators ask this of a framework that does not run),
// and its share of the cluster against its roles'.
func printPending(w io.Writer, st *messages.MasterState, f *messages.FrameworkState) {
	now := time.Unix(0, st.SnapshotUnixNano)
	p := f.GetPending()
	fmt.Fprintln(w, "\nWhy pending:")
	capacity := reachableCapacity(st)
	fmt.Fprintf(w, "  share: %s of the cluster\n", dominantShare(f.Used, capacity))
	for _, role := range f.GetInfo().GetRoles() {
		fmt.Fprintf(w, "    role %s: %s\n", role, roleShare(st, role, capacity))
	}
	last := "never"
	if p.GetLastOfferUnixNano() > 0 {
		last = now.Sub(time.Unix(0, p.GetLastOfferUnixNano())).Round(time.Second).String() + " ago"
	}
	fmt.Fprintf(w, "  offers: %d received (last %s), %d declined, %d outstanding\n", p.GetOffersReceived(), last, p.GetOffersDeclined(), f.OutstandingOffers)
	if declines := p.GetDeclines(); len(declines) > 0 {
		// By the reason the framework gave (Decline.reason); a Mesos
		// framework gives none: "unspecified".
		parts := make([]string, len(declines))
		for i, d := range declines {
			parts[i] = fmt.Sprintf("%d %s", d.Offers, d.Reason)
		}
		fmt.Fprintf(w, "  declined by reason: %s\n", strings.Join(parts, ", "))
	}
	if u := p.GetDemandUnfit(); u != nil {
		units := make([]string, len(u.Unfit))
		for i, q := range u.Unfit {
			units[i] = messages.FormatResources(q.Resources)
		}
		fmt.Fprintf(w, "  fits no agent: %s (the most any of the cluster's %d agents has: %s); it waits until a larger agent registers\n",
			strings.Join(units, " and "), u.Agents, messages.FormatResources(u.Largest))
	}
	if roles := p.GetSuppressedRoles(); len(roles) > 0 {
		fmt.Fprintf(w, "  suppressed: %s (no offers for these roles until it revives)\n", strings.Join(roles, ", "))
	}
	// The snapshot counts every filter per role and names only a few.
	var n uint32
	for _, fs := range p.GetFilterSummaries() {
		n += fs.Agents
	}
	if n > 0 {
		fmt.Fprintf(w, "  filters: %d agents refused for a while (its declines, and what its launches left):\n", n)
		for _, fs := range p.GetFilterSummaries() {
			fmt.Fprintf(w, "    role %s: %d agents, offered again in %s to %s\n", fs.Role, fs.Agents,
				time.Unix(0, fs.SoonestUntilUnixNano).Sub(now).Round(time.Second), time.Unix(0, fs.LatestUntilUnixNano).Sub(now).Round(time.Second))
		}
		for _, fl := range p.GetFilters() {
			fmt.Fprintf(w, "    %s for role %s, %s more\n", fl.AgentId, fl.Role, time.Unix(0, fl.UntilUnixNano).Sub(now).Round(time.Second))
		}
		if k := len(p.GetFilters()); uint32(k) < n {
			fmt.Fprintf(w, "    ... and %d more\n", n-uint32(k))
		}
	}
	if p.GetOffersReceived() == 0 && f.Connected {
		fmt.Fprintln(w, "  no offer yet: its roles' shares, quotas and other frameworks decide (agora roles shows the roles)")
	}
}

// reachableCapacity is what the reachable agents have, by resource: what
// DRF takes shares of.
func reachableCapacity(st *messages.MasterState) map[string]float64 {
	c := map[string]float64{}
	for _, a := range st.Agents {
		if a.Reachable {
			for _, r := range a.GetInfo().GetResources() {
				c[r.Name] += r.Scalar
			}
		}
	}
	return c
}

// dominantShare is DRF's dominant share of rs, as the web UI shows it:
// the largest fraction of the cluster's capacity of any one resource,
// with the resource ("12.5% cpus"; "0%" for nothing).
func dominantShare(rs []*messages.Resource, capacity map[string]float64) string {
	used := map[string]float64{}
	for _, r := range rs {
		used[r.Name] += r.Scalar
	}
	best, which := 0.0, ""
	for name, v := range used {
		if c := capacity[name]; c > 0 && (v/c > best || v/c == best && name < which) {
			best, which = v/c, name
		}
	}
	if which == "" {
		return "0%"
	}
	return fmt.Sprintf("%.1f%% %s", 100*best, which)
}

// roleShare is a role's share of the cluster, weight, guarantee and limit:
// DRF offers first to the role furthest below its weighted share, and
// never past its limit.
func roleShare(st *messages.MasterState, role string, capacity map[string]float64) string {
	for _, u := range st.RoleUsage {
		if u.Role != role {
			continue
		}
		w := u.Weight
		if w == 0 {
			w = 1
		}
		return fmt.Sprintf("%s of the cluster, weight %g, guarantee %s, limit %s, %d tasks", dominantShare(u.Used, capacity), w,
			dash(messages.FormatResources(u.Guarantee)), dash(messages.FormatResources(u.Limit)), u.Tasks)
	}
	return "no usage or configuration (weight 1, no guarantee, no limit)"
}

func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
