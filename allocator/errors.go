package allocator

import "errors"

// Sentinel errors, checked with errors.Is.
var (
	ErrUnknownAgent     = errors.New("unknown agent")
	ErrUnknownFramework = errors.New("unknown framework")
	ErrUnknownRole      = errors.New("framework is not subscribed to role")
	ErrExists           = errors.New("already exists")
	ErrInvalid          = errors.New("invalid argument")
	// ErrNotAllocated: a recover names more than is allocated to the
	// framework on that agent; nothing was recovered.
	ErrNotAllocated  = errors.New("resources are not allocated to the framework on that agent")
	ErrUnknownPolicy = errors.New("unknown allocator policy")
)
