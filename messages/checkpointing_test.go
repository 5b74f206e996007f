package messages_test

import (
	"testing"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// FrameworkInfo.checkpoint: unset is Agora's default (checkpointing), and
// the field keeps its presence across the wire, so an agent tells an
// explicit false from a framework that said nothing.
func TestCheckpointingDefaultsToOnAndSurvivesTheWire(t *testing.T) {
	for _, tc := range []struct {
		name string
		info *messages.FrameworkInfo
		want bool
	}{
		{"no FrameworkInfo", nil, true},
		{"unset", &messages.FrameworkInfo{Name: "fw"}, true},
		{"true", &messages.FrameworkInfo{Checkpoint: proto.Bool(true)}, true},
		{"false", &messages.FrameworkInfo{Checkpoint: proto.Bool(false)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := messages.Checkpointing(tc.info); got != tc.want {
				t.Fatalf("Checkpointing = %v, want %v", got, tc.want)
			}
			if tc.info == nil {
				return
			}
			b, err := proto.Marshal(tc.info)
			if err != nil {
				t.Fatal(err)
			}
			back := &messages.FrameworkInfo{}
			if err := proto.Unmarshal(b, back); err != nil {
				t.Fatal(err)
			}
			if got := messages.Checkpointing(back); got != tc.want {
				t.Fatalf("after the wire, Checkpointing = %v, want %v", got, tc.want)
			}
		})
	}
}
