package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
)

// agora maintenance: the schedule of maintenance windows (Mesos'
// /maintenance/schedule). The master replaces the whole schedule at once;
// schedule reads it, adds a window and writes it back, so two operators
// scheduling at the same moment may lose one window: show tells.

type maintenanceCmd struct {
	Schedule maintenanceScheduleCmd `cmd:"" help:"Add a window: agora maintenance schedule HOST... --start 2026-12-24T22:00:00Z (or --in 2h) --duration 4h."`
	Show     maintenanceShowCmd     `cmd:"" default:"withargs" help:"Show the schedule (the default)."`
	Clear    maintenanceClearCmd    `cmd:"" help:"Clear the schedule: agents a window drains now are reactivated."`
}

type maintenanceScheduleCmd struct {
	masterFlags
	Machines []string      `arg:"" help:"Agents' hostnames (or agent IDs) the window takes down."`
	Start    string        `help:"When the window starts (RFC 3339, e.g. 2026-12-24T22:00:00Z)." xor:"start"`
	In       time.Duration `help:"Start the window this long from now (instead of --start)." xor:"start"`
	Duration time.Duration `required:"" help:"How long the machines are unavailable; after it they are active again."`
	Replace  bool          `help:"Replace the whole schedule with this window instead of adding it."`
}

func (c *maintenanceScheduleCmd) Run(*slog.Logger) error {
	var start time.Time
	switch {
	case c.Start != "":
		t, err := time.Parse(time.RFC3339, c.Start)
		if err != nil {
			return fmt.Errorf("--start %q: want RFC 3339, such as 2026-12-24T22:00:00Z: %w", c.Start, err)
		}
		start = t
	case c.In > 0:
		start = time.Now().Add(c.In)
	default:
		return fmt.Errorf("say when the window starts: --start TIME or --in DURATION")
	}
	if c.Duration <= 0 {
		return fmt.Errorf("--duration %v: want more than 0", c.Duration)
	}
	s := &messages.MaintenanceSchedule{}
	if !c.Replace {
		if _, err := c.get("/maintenance/schedule", s); err != nil {
			return err
		}
	}
	s.Windows = append(s.Windows, &messages.MaintenanceWindow{Machines: c.Machines, StartUnixNano: start.UnixNano(), DurationNanos: int64(c.Duration)})
	return c.put(s)
}

func (f masterFlags) put(s *messages.MaintenanceSchedule) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(s)
	if err != nil {
		return err
	}
	return f.postBody("/maintenance/schedule", b)
}

type maintenanceShowCmd struct {
	masterFlags
	JSON bool `name:"json" help:"Print the schedule as JSON."`
}

func (c *maintenanceShowCmd) Run(*slog.Logger) error {
	s := &messages.MaintenanceSchedule{}
	if _, err := c.get("/maintenance/schedule", s); err != nil {
		return err
	}
	if c.JSON {
		return printJSON(os.Stdout, s)
	}
	if len(s.Windows) == 0 {
		fmt.Println("no maintenance scheduled")
		return nil
	}
	now := time.Now()
	windows := slices.Clone(s.Windows)
	slices.SortStableFunc(windows, func(a, b *messages.MaintenanceWindow) int { return cmp.Compare(a.StartUnixNano, b.StartUnixNano) })
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tEND\tSTATE\tMACHINES")
	for _, w := range windows {
		start := time.Unix(0, w.StartUnixNano)
		end := start.Add(time.Duration(w.DurationNanos))
		state := "scheduled (in " + start.Sub(now).Round(time.Second).String() + ")"
		switch {
		case !now.Before(end):
			state = "over"
		case !now.Before(start):
			state = "in progress (ends in " + end.Sub(now).Round(time.Second).String() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), state, strings.Join(w.Machines, ","))
	}
	return tw.Flush()
}

type maintenanceClearCmd struct{ masterFlags }

func (c *maintenanceClearCmd) Run(*slog.Logger) error { return c.put(&messages.MaintenanceSchedule{}) }
