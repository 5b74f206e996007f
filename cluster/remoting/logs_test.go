package remoting

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// proto.actor's errors (a client that went away) reach our log at debug,
// and not at all when the operator asked for info or above.
func TestProtoactorLogsAtDebug(t *testing.T) {
	var buf bytes.Buffer
	info := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	protoactorLogger(info).Error("EndpointReader failed", "err", "connection reset")
	if buf.Len() != 0 {
		t.Fatalf("at level info, proto.actor's error was logged: %s", buf.String())
	}
	debug := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	protoactorLogger(debug).With("address", "x").Error("EndpointReader failed")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "component=protoactor") || !strings.Contains(got, "address=x") {
		t.Fatalf("at level debug: %q; want the record at DEBUG with its attributes", got)
	}
}
