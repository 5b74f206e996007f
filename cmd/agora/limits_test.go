package main

import (
	"reflect"
	"testing"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"
)

// agora node starts with core.DefaultLimits: the flags' defaults and the
// documented production limits are one set.
func TestNodeFlagsDefaultToDefaultLimits(t *testing.T) {
	var c cli
	p, err := kong.New(&c, vars())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse([]string{"node", "--role=master"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Node.limits()
	if err != nil {
		t.Fatal(err)
	}
	want := core.DefaultLimits()
	if len(got.MaxAgentResources) != len(want.MaxAgentResources) {
		t.Fatalf("--max-agent-resources %v; want %v", got.MaxAgentResources, want.MaxAgentResources)
	}
	for i := range want.MaxAgentResources {
		if !proto.Equal(got.MaxAgentResources[i], want.MaxAgentResources[i]) {
			t.Errorf("--max-agent-resources %v; want %v", got.MaxAgentResources[i], want.MaxAgentResources[i])
		}
	}
	got.MaxAgentResources, want.MaxAgentResources = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flag defaults %+v; want core.DefaultLimits %+v", got, want)
	}
	if _, err := p.Parse([]string{"node", "--max-agents=100000"}); err == nil {
		if _, err := c.Node.limits(); err == nil {
			t.Error("--max-agents past the ceiling accepted")
		}
	}
}
