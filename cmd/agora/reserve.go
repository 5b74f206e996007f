package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// reserveCmd and unreserveCmd are Mesos' operator /reserve and /unreserve:
// resources of one agent kept for a role (offered to it and its
// descendants only) until unreserved.
type reserveCmd struct {
	masterFlags
	Agent     string   `arg:"" help:"Agent ID (or its hostname)."`
	Resources string   `arg:"" help:"Resources to reserve, each naming the role: cpus(prod):2;mem(prod):1024."`
	Labels    []string `name:"label" help:"A label key:value recorded with the reservation (repeatable)."`
}

func (c *reserveCmd) Run(*slog.Logger) error {
	return reservation(c.masterFlags, "/reserve", c.Agent, c.Resources, c.Labels)
}

type unreserveCmd struct {
	masterFlags
	Agent     string `arg:"" help:"Agent ID (or its hostname)."`
	Resources string `arg:"" help:"Dynamically reserved resources to give back: cpus(prod):2."`
}

func (c *unreserveCmd) Run(*slog.Logger) error {
	return reservation(c.masterFlags, "/unreserve", c.Agent, c.Resources, nil)
}

func reservation(f masterFlags, path, agent, resources string, labels []string) error {
	for _, l := range labels {
		if k, _, ok := strings.Cut(l, ":"); !ok || k == "" {
			return fmt.Errorf("--label %q: want key:value", l)
		}
	}
	id, err := f.agentID(agent)
	if err != nil {
		return err
	}
	q := url.Values{"agentId": {id}, "resources": {resources}, "label": labels}
	return f.post(path + "?" + q.Encode())
}
