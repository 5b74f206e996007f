package core

import "errors"

// Sentinel errors of the core, checked with errors.Is.
var (
	// ErrUnknownAgent: the agent is not registered (or was marked
	// unreachable); it must register again.
	ErrUnknownAgent = errors.New("unknown agent: register again")
	// ErrInvalidAgent: the registration names impossible resources or
	// lacks required fields.
	ErrInvalidAgent     = errors.New("invalid agent registration")
	ErrUnknownFramework = errors.New("unknown framework")
	ErrInvalidFramework = errors.New("invalid framework")
	ErrFrameworkRemoved = errors.New("framework was removed: register a new one")
	ErrInvalidOffers    = errors.New("invalid offers")
	ErrUnknownTask      = errors.New("unknown task")
	// ErrInvalidRoleConfig wraps every refused role update.
	ErrInvalidRoleConfig = errors.New("invalid role configuration")
	// errExecutorFramework: a re-registering agent reports an executor
	// whose framework is not in the books.
	errExecutorFramework = errors.New("its framework is not known (no live task of it was reported)")
)
