package messages

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on what a message may carry. Every node trusts nobody on the
// network: a size or amount it stores, sums or prints is bounded here, and
// the validators below are pure so that fuzz targets can drive them.

// MaxScalar is the largest scalar amount of one resource name a resource
// list may hold (summed over its entries, revocable or not): 1e11 units.
//
// Why this bound: the allocator and the books count in milli-units in an
// int64 (max 9.22e18). One agent then holds at most 1e14 milli-units of a
// kind, and a cluster of MaxAgentsCeiling (90,000) such agents sums to
// 9e18, which still fits: no total, used or quota sum can wrap. 1e14 is
// also below 2^53, so every amount up to the bound converts from float64
// to milli-units exactly (to the nearest thousandth). 1e11 is far beyond
// any machine: 1e11 cpus, or 1e11 MiB (95 EiB) of memory or disk.
const MaxScalar = 1e11

// MaxAgentsCeiling bounds the agents a master holds whatever --max-agents
// says: with every agent at MaxScalar, the cluster's sums stay below the
// int64 range (see MaxScalar). MaxRolesCeiling bounds the roles alike: the
// allocator sums roles' unmet guarantees, each at most MaxScalar.
const (
	MaxAgentsCeiling = 90_000
	MaxRolesCeiling  = 90_000
)

// Size limits of message fields. They are generous for any real use and
// keep one message, and what the master keeps of it, small.
const (
	// MaxResourceEntries bounds the entries of one resource list.
	MaxResourceEntries = 64
	// MaxRanges bounds the ranges of one resource (ports).
	MaxRanges = 1024
	// MaxResourceNameLength bounds a resource's name.
	MaxResourceNameLength = 64
	// MaxRoleNameLength bounds a role name, in bytes.
	MaxRoleNameLength = 256
	// MaxRolesPerFramework bounds the roles one framework subscribes to.
	MaxRolesPerFramework = 64
	// MaxIDLength is Mesos' bound on IDs (NAME_MAX): an ID may name a
	// directory (sandboxes are kept under their task's ID).
	MaxIDLength = 255
	// MaxHostnameLength is DNS's bound on a name.
	MaxHostnameLength = 253
	// MaxLabels bounds a task's labels; MaxLabelKey and MaxLabelValue
	// their sizes.
	MaxLabels     = 64
	MaxLabelKey   = 256
	MaxLabelValue = 4096
	// MaxEnvironment bounds a command's environment variables;
	// MaxEnvName and MaxEnvValue their sizes.
	MaxEnvironment = 1024
	MaxEnvName     = 256
	MaxEnvValue    = 32 << 10
	// MaxArguments bounds a command's arguments; MaxCommandBytes the sum of
	// its value and arguments (Linux's ARG_MAX is 2 MiB by default).
	MaxArguments    = 1024
	MaxCommandBytes = 256 << 10
	// MaxTasksPerAccept bounds the tasks one Accept launches, and
	// MaxOffersPerAccept the offers it names.
	MaxTasksPerAccept  = 1000
	MaxOffersPerAccept = 1000
	// MaxAttributes bounds an agent's attributes.
	MaxAttributes = 64
	// MaxStatusMessage bounds the text of a task status the master keeps
	// and forwards; a longer one is cut.
	MaxStatusMessage = 4096
	// MaxNameLength bounds a task's or framework's human-readable name.
	MaxNameLength = 1024
	// MaxDeclineReason bounds a Decline's reason, in bytes: a few words
	// to count by, not a log line. A longer one is refused (the decline
	// itself still applies).
	MaxDeclineReason = 64
	// MaxDeclineReasons bounds the distinct decline reasons the master
	// counts per framework; the declines of any further reason count as
	// "other".
	MaxDeclineReasons = 8
	// MaxDemandUnits bounds the units of a Revive's demand (task shapes:
	// a few per framework).
	MaxDemandUnits = 32
)

// ErrBadRole is wrapped by every role name validation error.
var ErrBadRole = errors.New("invalid role name")

// ErrBadID is wrapped by every ID, hostname or principal validation error.
var ErrBadID = errors.New("invalid identifier")

// ErrTooLarge is wrapped by every size limit error.
var ErrTooLarge = errors.New("too large")

// ValidateRoleName checks a role name against Mesos' rules
// (src/common/roles.cpp validate), applied to each /-separated segment of a
// hierarchical role as Mesos does: non-empty, not "." or "..", no leading
// "-", no whitespace or control characters. On top of that:
//   - at most MaxRoleNameLength bytes;
//   - segments take only RFC 3986's unreserved characters (ASCII letters,
//     digits, "-", ".", "_", "~"). A role is a URL path segment, a metrics
//     label, a key in roles.json and a token in resource text
//     ("cpus(role):4"): this set needs no escaping in any of them, and
//     leaves out "*" (the ACLs' wildcard: "eng/*"), "(" ")" ";" ":" "," (the
//     resource and flag syntaxes), "\" and every non-ASCII character (no
//     look-alike names, no normalisation questions);
//   - "*" alone, Mesos' default role, is a name of its own.
func ValidateRoleName(role string) error {
	if role == "*" {
		return nil
	}
	if role == "" {
		return fmt.Errorf("%w: empty; give a name such as eng or eng/ml", ErrBadRole)
	}
	if len(role) > MaxRoleNameLength {
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrBadRole, len(role), MaxRoleNameLength)
	}
	for seg := range strings.SplitSeq(role, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q has an empty segment (a leading, trailing or double /)", ErrBadRole, role)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrBadRole, role, seg)
		case seg[0] == '-':
			return fmt.Errorf("%w: %q has a segment starting with -", ErrBadRole, role)
		}
		for i := 0; i < len(seg); i++ {
			if !roleChar(seg[i]) {
				return fmt.Errorf("%w: %.64q has character %q; a role takes letters, digits, - . _ ~ and / between segments", ErrBadRole, role, seg[i])
			}
		}
	}
	return nil
}

func roleChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// ValidateID checks an ID (agent, framework, task, executor, offer) or a
// principal as Mesos checks IDs (src/common/validation.cpp validateID):
// non-empty, at most MaxIDLength bytes, not "." or "..", no control
// characters, no "/" or "\" (an ID may name a directory); and valid UTF-8.
// kind names the ID in the error ("task ID").
func ValidateID(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: %s is empty", ErrBadID, kind)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%w: %s is %d bytes, over the limit of %d", ErrBadID, kind, len(id), MaxIDLength)
	case id == "." || id == "..":
		return fmt.Errorf("%w: %s %q is not allowed", ErrBadID, kind, id)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrBadID, kind, id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '/' || r == '\\' {
			return fmt.Errorf("%w: %s %q has character %q; no control characters, / or \\", ErrBadID, kind, id, r)
		}
	}
	return nil
}

// ValidateHostname checks an agent's or framework's hostname: at most
// MaxHostnameLength bytes of letters, digits, ".", "-", "_" and ":" (an IPv6
// address), as a certificate's name or an address may hold.
func ValidateHostname(h string) error {
	if h == "" {
		return fmt.Errorf("%w: empty hostname", ErrBadID)
	}
	if len(h) > MaxHostnameLength {
		return fmt.Errorf("%w: hostname is %d bytes, over the limit of %d", ErrBadID, len(h), MaxHostnameLength)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return fmt.Errorf("%w: hostname %.64q has character %q; want letters, digits, . - _ :", ErrBadID, h, c)
		}
	}
	return nil
}

// validateResourceName checks a resource's name: printable ASCII without
// spaces or the resource syntax's own characters.
func validateResourceName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: resource with empty name", ErrBadResource)
	}
	if len(name) > MaxResourceNameLength {
		return fmt.Errorf("%w: resource name is %d bytes, over the limit of %d", ErrBadResource, len(name), MaxResourceNameLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("():;[],", c) >= 0 {
			return fmt.Errorf("%w: resource name %.64q has character %q", ErrBadResource, name, c)
		}
	}
	return nil
}

// ValidateTaskInfo checks what a task carries beyond its resources (checked
// with ValidateResources): its IDs, name, command, labels and the same of
// its executor.
func ValidateTaskInfo(t *TaskInfo) error {
	if t == nil {
		return fmt.Errorf("%w: nil task", ErrBadID)
	}
	if err := ValidateID("task ID", t.GetTaskId().GetValue()); err != nil {
		return err
	}
	if len(t.Name) > MaxNameLength {
		return fmt.Errorf("%w: task name is %d bytes, over the limit of %d", ErrTooLarge, len(t.Name), MaxNameLength)
	}
	if err := ValidateCommand(t.GetCommand()); err != nil {
		return err
	}
	if len(t.Labels) > MaxLabels {
		return fmt.Errorf("%w: %d labels, over the limit of %d", ErrTooLarge, len(t.Labels), MaxLabels)
	}
	for k, v := range t.Labels {
		if len(k) > MaxLabelKey || len(v) > MaxLabelValue {
			return fmt.Errorf("%w: label %.64q: keys take at most %d bytes, values %d", ErrTooLarge, k, MaxLabelKey, MaxLabelValue)
		}
	}
	if e := t.GetExecutor(); e != nil {
		if err := ValidateID("executor ID", e.GetExecutorId().GetValue()); err != nil {
			return err
		}
		if len(e.Name) > MaxNameLength {
			return fmt.Errorf("%w: executor name is %d bytes, over the limit of %d", ErrTooLarge, len(e.Name), MaxNameLength)
		}
		if err := ValidateCommand(e.GetCommand()); err != nil {
			return fmt.Errorf("executor: %w", err)
		}
		if err := ValidateResources(e.GetResources()); err != nil {
			return fmt.Errorf("executor: %w", err)
		}
	}
	if (t.HealthCheck != nil || t.Check != nil) && t.Executor != nil {
		return fmt.Errorf("%w: a task of a custom executor is its executor's to check; give the check to a command or Docker task", ErrBadHealthCheck)
	}
	if err := ValidateHealthCheck(t.HealthCheck); err != nil {
		return err
	}
	return ValidateCheck(t.Check)
}

// ValidateCommand bounds a command's arguments and environment (nil is
// valid: no command).
func ValidateCommand(c *CommandInfo) error {
	if c == nil {
		return nil
	}
	if len(c.Arguments) > MaxArguments {
		return fmt.Errorf("%w: %d arguments, over the limit of %d", ErrTooLarge, len(c.Arguments), MaxArguments)
	}
	n := len(c.Value)
	for _, a := range c.Arguments {
		n += len(a)
	}
	if n > MaxCommandBytes {
		return fmt.Errorf("%w: command and arguments are %d bytes, over the limit of %d", ErrTooLarge, n, MaxCommandBytes)
	}
	if len(c.Environment) > MaxEnvironment {
		return fmt.Errorf("%w: %d environment variables, over the limit of %d", ErrTooLarge, len(c.Environment), MaxEnvironment)
	}
	for k, v := range c.Environment {
		if k == "" || len(k) > MaxEnvName || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("%w: environment variable name %.64q: want 1 to %d bytes without = or NUL", ErrBadID, k, MaxEnvName)
		}
		if len(v) > MaxEnvValue {
			return fmt.Errorf("%w: environment variable %s is %d bytes, over the limit of %d", ErrTooLarge, k, len(v), MaxEnvValue)
		}
	}
	if len(c.User) > MaxIDLength {
		return fmt.Errorf("%w: user name is %d bytes, over the limit of %d", ErrTooLarge, len(c.User), MaxIDLength)
	}
	return nil
}
