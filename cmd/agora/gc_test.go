package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"testing"
)

// --gc-percent sets the collector's target, unless the operator's GOGC
// (already applied by the runtime) says otherwise.
func TestSetGCPercent(t *testing.T) {
	restore := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(restore) })
	quietLog := slog.New(slog.DiscardHandler)

	t.Setenv("GOGC", "") // registered for restoring; unset below
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	setGCPercent(400, quietLog)
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("without GOGC, --gc-percent 400 left the target at %d", got)
	}
	setGCPercent(0, quietLog)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("--gc-percent 0 changed the target to %d; it should keep the runtime's", got)
	}

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150) // as the runtime did at start
	setGCPercent(400, quietLog)
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("GOGC=150 is set, yet --gc-percent moved the target to %d", got)
	}
}
