package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"text/tabwriter"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
)

// Operator commands for role weights and quotas, over the master's HTTP API.

type rolesCmd struct {
	masterFlags
	JSON bool `name:"json" help:"Print the roles (configuration and usage) as JSON."`
}

// Run prints every role with a configuration or a live task: its
// configuration against what it uses, and how often it was preempted.
func (c *rolesCmd) Run(*slog.Logger) error {
	body, err := masterCall(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodGet, "/state", nil)
	if err != nil {
		return err
	}
	st := &messages.MasterState{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, st); err != nil {
		return fmt.Errorf("unreadable answer from the master: %w", err)
	}
	if c.JSON {
		return printJSON(os.Stdout, &messages.MasterState{Roles: st.Roles, RoleUsage: st.RoleUsage})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tWEIGHT\tGUARANTEE\tLIMIT\tUSED\tREVOCABLE\tTASKS\tPREEMPTED")
	for _, u := range st.RoleUsage {
		fmt.Fprintf(tw, "%s\t%g\t%s\t%s\t%s\t%s\t%d\t%d\n", u.Role, u.Weight,
			dash(messages.FormatResources(u.Guarantee)), dash(messages.FormatResources(u.Limit)),
			dash(messages.FormatResources(u.Used)), dash(messages.FormatResources(u.RevocableUsed)), u.Tasks, u.Preemptions)
	}
	if st.ReclaimIntervalNanos == 0 {
		fmt.Fprintln(tw, "(reclamation is off: guarantees are served from free resources only)")
	}
	return tw.Flush()
}

type quotaCmd struct {
	Set   quotaSetCmd   `cmd:"" help:"Set a role's quota: agora quota set ROLE GUARANTEE [--limit LIMIT]."`
	Clear quotaClearCmd `cmd:"" help:"Remove a role's quota."`
}

type quotaSetCmd struct {
	masterFlags
	Role      string `arg:"" help:"Role, such as eng/ml."`
	Guarantee string `arg:"" help:"Guaranteed resources, such as 'cpus:4;mem:4096'."`
	Limit     string `help:"Resources the role may never exceed, such as 'cpus:8'."`
}

func (c *quotaSetCmd) Run(*slog.Logger) error {
	if err := messages.ValidateRoleName(c.Role); err != nil {
		return fmt.Errorf("role: %w", err)
	}
	if _, err := messages.ParseResources(c.Guarantee); err != nil {
		return fmt.Errorf("guarantee: %w", err)
	}
	if _, err := messages.ParseResources(c.Limit); err != nil {
		return fmt.Errorf("--limit: %w", err)
	}
	payload, _ := json.Marshal(map[string]string{"guarantee": c.Guarantee, "limit": c.Limit})
	body, err := masterCall(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodPut, "/quota/"+c.Role, payload)
	if err != nil {
		return err
	}
	return printRoles(body)
}

type quotaClearCmd struct {
	masterFlags
	Role string `arg:"" help:"Role."`
}

func (c *quotaClearCmd) Run(*slog.Logger) error {
	if err := messages.ValidateRoleName(c.Role); err != nil {
		return fmt.Errorf("role: %w", err)
	}
	body, err := masterCall(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodDelete, "/quota/"+c.Role, nil)
	if err != nil {
		return err
	}
	return printRoles(body)
}

type weightsCmd struct {
	Set weightSetCmd `cmd:"" help:"Set a role's weight: agora weights set ROLE WEIGHT."`
}

type weightSetCmd struct {
	masterFlags
	Role   string  `arg:"" help:"Role."`
	Weight float64 `arg:"" help:"Weight (default of every role: 1)."`
}

func (c *weightSetCmd) Run(*slog.Logger) error {
	if err := messages.ValidateRoleName(c.Role); err != nil {
		return fmt.Errorf("role: %w", err)
	}
	body, err := masterCall(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodPut, "/weights/"+c.Role, []byte(fmt.Sprint(c.Weight)))
	if err != nil {
		return err
	}
	return printRoles(body)
}

func printRoles(body []byte) error {
	cfg := &messages.RoleConfig{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, cfg); err != nil {
		return fmt.Errorf("unreadable answer from the master: %w", err)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tWEIGHT\tGUARANTEE\tLIMIT")
	for _, r := range cfg.Roles {
		w := r.Weight
		if w == 0 {
			w = 1
		}
		g, l := messages.FormatResources(r.GetQuota().GetGuarantee()), messages.FormatResources(r.GetQuota().GetLimit())
		fmt.Fprintf(tw, "%s\t%g\t%s\t%s\n", r.Role, w, dash(g), dash(l))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
