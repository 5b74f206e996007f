package scheduler_test

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

func TestHealthCheckSpec(t *testing.T) {
	one, two := 1.0, uint32(2)
	for spec, want := range map[string]*messages.HealthCheck{
		"http://:8080/health?deep=1": {Type: messages.HealthCheck_HTTP, Http: &messages.HealthCheck_HTTPCheckInfo{Port: 8080, Path: "/health?deep=1", Scheme: "http"}, IntervalSeconds: &one, ConsecutiveFailures: &two},
		"tcp://:5432":                {Type: messages.HealthCheck_TCP, Tcp: &messages.HealthCheck_TCPCheckInfo{Port: 5432}, IntervalSeconds: &one, ConsecutiveFailures: &two},
		"cmd:test -f ready":          {Type: messages.HealthCheck_COMMAND, Command: &messages.CommandInfo{Value: "test -f ready", Shell: true}, IntervalSeconds: &one, ConsecutiveFailures: &two},
	} {
		got, err := scheduler.HealthCheck(spec, 0, time.Second, 0, 0, 2)
		if err != nil || !proto.Equal(got, want) {
			t.Errorf("%s: got %v (%v), want %v", spec, got, err, want)
		}
	}
	for _, bad := range []string{"http://example.com:80/", "http://:0/", "ftp://:21", "tcp://", ":8080", "cmd:"} {
		if _, err := scheduler.HealthCheck(bad, 0, 0, 0, 0, 0); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
