package envflags

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestName(t *testing.T) {
	for flag, want := range map[string]string{"master": "X_MASTER", "health-delay": "X_HEALTH_DELAY", "a.b": "X_A_B"} {
		if got := Name("X", flag); got != want {
			t.Errorf("Name(X, %s) = %s, want %s", flag, got, want)
		}
	}
}

// The variable sets the flag, the command line wins over it, and its
// usage names it; a flag defined after Bind is left alone.
func TestBind(t *testing.T) {
	t.Setenv("X_TASKS", "7")
	t.Setenv("X_WAIT", "3s")
	t.Setenv("X_LATER", "ignored")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	tasks := fs.Int("tasks", 1, "tasks")
	wait := fs.Duration("wait", time.Second, "wait")
	name := fs.String("name", "n", "name")
	if err := Bind(fs, "X"); err != nil {
		t.Fatal(err)
	}
	later := fs.String("later", "default", "defined after Bind")
	if err := fs.Parse([]string{"-wait", "5s"}); err != nil {
		t.Fatal(err)
	}
	if *tasks != 7 || *wait != 5*time.Second || *name != "n" || *later != "default" {
		t.Fatalf("tasks %d wait %v name %q later %q; want 7 (variable), 5s (command line), n (default), default", *tasks, *wait, *name, *later)
	}
	if u := fs.Lookup("tasks").Usage; u != "tasks ($X_TASKS)" {
		t.Fatalf("usage %q", u)
	}
}

// A value the flag does not take is an error that names the variable.
func TestBindRefusesABadValue(t *testing.T) {
	t.Setenv("X_TASKS", "many")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("tasks", 1, "tasks")
	if err := Bind(fs, "X"); err == nil || !strings.Contains(err.Error(), `X_TASKS="many"`) {
		t.Fatalf("err = %v, want one naming X_TASKS", err)
	}
}

// Verify finds a flag without a variable, and one whose variable is not
// read.
func TestVerifyFindsFlagsWithoutVariables(t *testing.T) {
	define := func(fs *flag.FlagSet) error {
		fs.Int("bound", 1, "bound")
		if err := Bind(fs, "X"); err != nil {
			return err
		}
		fs.Bool("bare", false, "no variable")
		fs.String("claimed", "", "names one it does not read ($X_CLAIMED)")
		return nil
	}
	err := Verify(define, t.Setenv)
	if err == nil || !strings.Contains(err.Error(), "-bare: its usage names no environment variable") ||
		!strings.Contains(err.Error(), "-claimed: with X_CLAIMED=-other") || strings.Contains(err.Error(), "-bound") {
		t.Fatalf("Verify: %v", err)
	}
}
