package master

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"google.golang.org/protobuf/encoding/protojson"
)

// LoadRolesFile reads a role configuration saved by SaveRolesFile; a
// missing file is an empty configuration.
func LoadRolesFile(path string) (*messages.RoleConfig, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &messages.RoleConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read role configuration: %w", err)
	}
	cfg := &messages.RoleConfig{}
	if err := protojson.Unmarshal(b, cfg); err != nil {
		return nil, fmt.Errorf("role configuration %s is not valid JSON of agora.v1.RoleConfig (fix or remove it): %w", path, err)
	}
	if _, err := core.NewRoles(cfg); err != nil {
		return nil, fmt.Errorf("role configuration %s: %w", path, err)
	}
	return cfg, nil
}

// SaveRolesFile returns a SaveRoles that writes path atomically, so a crash
// leaves the old or the new file, never half. A local file write is not
// interrupted by ctx.
func SaveRolesFile(path string) func(context.Context, *messages.RoleConfig) error {
	return func(_ context.Context, cfg *messages.RoleConfig) error {
		b, err := protojson.MarshalOptions{UseProtoNames: true, Indent: "  "}.Marshal(cfg)
		if err != nil {
			return err
		}
		return checkpoint.WriteFile(path, b)
	}
}

// LoadMaintenanceFile reads a maintenance schedule saved by
// SaveMaintenanceFile; a missing file is an empty schedule.
func LoadMaintenanceFile(path string) (*messages.MaintenanceSchedule, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &messages.MaintenanceSchedule{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read maintenance schedule: %w", err)
	}
	s := &messages.MaintenanceSchedule{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("maintenance schedule %s is not valid JSON of agora.v1.MaintenanceSchedule (fix or remove it): %w", path, err)
	}
	return s, nil
}

// SaveMaintenanceFile returns a SaveMaintenance that writes path
// atomically.
func SaveMaintenanceFile(path string) func(context.Context, *messages.MaintenanceSchedule) error {
	return func(_ context.Context, s *messages.MaintenanceSchedule) error {
		b, err := protojson.MarshalOptions{UseProtoNames: true, Indent: "  "}.Marshal(s)
		if err != nil {
			return err
		}
		return checkpoint.WriteFile(path, b)
	}
}
