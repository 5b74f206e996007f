// Package logging sets up the log/slog logger of Agora's programs (the
// agora binary and the examples), so that they all log in one format an
// operator's tools parse once: text (logfmt) or JSON on stderr, at a level,
// from flags or AGORA_LOG_LEVEL and AGORA_LOG_FORMAT.
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Options are the logging flags' values.
type Options struct {
	// Level is debug, info, warn or error; Format is text or json.
	Level, Format string
}

// FromEnv is the options AGORA_LOG_LEVEL and AGORA_LOG_FORMAT give (info
// and text when unset).
func FromEnv() Options {
	o := Options{Level: os.Getenv("AGORA_LOG_LEVEL"), Format: os.Getenv("AGORA_LOG_FORMAT")}
	if o.Level == "" {
		o.Level = "info"
	}
	if o.Format == "" {
		o.Format = "text"
	}
	return o
}

// RegisterFlags adds --log-level and --log-format to fs, defaulting to o.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Level, "log-level", o.Level, "log level: debug, info, warn, error ($AGORA_LOG_LEVEL)")
	fs.StringVar(&o.Format, "log-format", o.Format, "log format: text or json ($AGORA_LOG_FORMAT)")
}

// New returns the logger o describes, writing to w, or says which option
// is wrong.
func (o Options) New(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", o.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch o.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", o.Format)
}

// Setup makes the logger o describes (on stderr) the default one, as a
// program's main does first, and returns it.
func (o Options) Setup() (*slog.Logger, error) {
	logger, err := o.New(os.Stderr)
	if err != nil {
		return nil, err
	}
	slog.SetDefault(logger)
	return logger, nil
}
