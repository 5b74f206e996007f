package main

import (
	"flag"
	"testing"

	"github.com/agora-sched/agora/cmd/internal/envflags"
)

// The README's promise: every flag is also an environment variable. Each
// of elastic's flags names its variable in its usage, and setting that
// variable gives the flag its value.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	define := func(fs *flag.FlagSet) error { _, err := newFlags(fs); return err }
	if err := envflags.Verify(define, t.Setenv); err != nil {
		t.Fatal(err)
	}
}
