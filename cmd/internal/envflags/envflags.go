// Package envflags gives the flags of Agora's example programs (package
// flag) environment variables, as the agora binary's flags have theirs
// (AGORA_*), under a prefix of the program's own (ELASTIC_MASTER for
// elastic's --master) so that one environment can configure the agora CLI
// and a framework without one taking the other's setting.
//
// Define the program's flags, then Bind them, then define the shared ones
// that read their own variables (TLS's AGORA_TLS_*, logging's
// AGORA_LOG_*), then parse: a flag on the command line wins over its
// variable, which wins over the default.
package envflags

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Name is the variable of the flag named flag under prefix:
// ("ELASTIC", "health-delay") is ELASTIC_HEALTH_DELAY.
func Name(prefix, flag string) string {
	return prefix + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flag))
}

// Bind gives every flag defined on fs so far its variable (Name), named in
// its usage as ($NAME), and sets each flag whose variable is set in the
// environment. A value its flag does not take is an error naming the
// variable, so that a typo in the environment is not silently ignored.
func Bind(fs *flag.FlagSet, prefix string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := Name(prefix, f.Name)
		f.Usage += " ($" + name + ")"
		if v, ok := os.LookupEnv(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a value of -%s: %w", name, v, f.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// variable finds the variable a flag's usage names: ($NAME) or (NAME).
var variable = regexp.MustCompile(`\(\$?([A-Z][A-Z0-9_]*)[);]`)

// Verify checks that every flag of the FlagSets define makes has a
// variable named in its usage, and that setting that variable (through
// setenv, testing.T.Setenv in a test) gives the flag that value: for each
// flag it sets the variable to a value other than the default, defines
// the flags again, and reads the flag back. It reports every flag that
// fails, for a test to show.
func Verify(define func(*flag.FlagSet) error, setenv func(name, value string)) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	if err := define(fs); err != nil {
		return fmt.Errorf("defining the flags without variables set: %w", err)
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		m := variable.FindStringSubmatch(f.Usage)
		if m == nil {
			errs = append(errs, fmt.Errorf("-%s: its usage names no environment variable: %q", f.Name, f.Usage))
			return
		}
		value := otherValue(f)
		setenv(m[1], value)
		again := flag.NewFlagSet("verify", flag.ContinueOnError)
		if err := define(again); err != nil {
			errs = append(errs, fmt.Errorf("-%s: with %s=%s: %w", f.Name, m[1], value, err))
			return
		}
		if got := again.Lookup(f.Name).Value.String(); got != value {
			errs = append(errs, fmt.Errorf("-%s: with %s=%s it is %q", f.Name, m[1], value, got))
		}
	})
	return errors.Join(errs...)
}

// otherValue is a value of f's type other than its default, written as
// the flag prints it.
func otherValue(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return f.Value.String() + "-other"
	}
	switch v := g.Get().(type) {
	case bool:
		return fmt.Sprint(!v)
	case int, int64, uint, uint64, float64:
		if f.Value.String() == "7" {
			return "8"
		}
		return "7"
	case interface{ Seconds() float64 }: // time.Duration
		if f.Value.String() == "7s" {
			return "8s"
		}
		return "7s"
	}
	return f.Value.String() + "-other"
}
