package logging_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agora-sched/agora/cmd/internal/logging"
)

// Both formats, the level filter, and a clear error for a wrong option.
func TestNew(t *testing.T) {
	var b bytes.Buffer
	l, err := logging.Options{Level: "warn", Format: "json"}.New(&b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "task_id", "t1")
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["task_id"] != "t1" || rec["level"] != "WARN" {
		t.Fatalf("json record %q (%v)", b.String(), err)
	}
	b.Reset()
	l, err = logging.Options{Level: "info", Format: "text"}.New(&b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("task status", "task_id", "t1", "state", "TASK_RUNNING")
	if got := b.String(); !strings.Contains(got, `level=INFO msg="task status" task_id=t1 state=TASK_RUNNING`) {
		t.Fatalf("text record %q", got)
	}
	for _, bad := range []logging.Options{{Level: "loud", Format: "text"}, {Level: "info", Format: "xml"}} {
		if _, err := bad.New(&b); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
