package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agora-sched/agora/runtime/checkpoint"
)

const agentIDFile = "agent_id"

// agentIDContent is what the agent_id file holds.
func agentIDContent(id string) []byte { return []byte(id + "\n") }

// LoadAgentID returns the AgentID persisted in workDir, or "" for a new
// agent (no work dir, or nothing persisted yet).
func LoadAgentID(workDir string) (string, error) {
	if workDir == "" {
		return "", nil
	}
	b, err := os.ReadFile(filepath.Join(workDir, agentIDFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read AgentID from work dir %s: %w", workDir, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SaveAgentID persists id in workDir atomically and durably (it blocks on
// the disk; the agent actor writes its ID off its goroutine instead).
func SaveAgentID(workDir, id string) error {
	if workDir == "" {
		return nil
	}
	if err := checkpoint.WriteFile(filepath.Join(workDir, agentIDFile), agentIDContent(id)); err != nil {
		return fmt.Errorf("persist AgentID: %w", err)
	}
	return nil
}
