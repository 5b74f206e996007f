package mesosapi

import "errors"

var (
	// ErrInvalid is a call or message that is malformed (400).
	ErrInvalid = errors.New("invalid")
	// ErrUnsupported is a Mesos feature Agora does not have yet (400,
	// naming it).
	ErrUnsupported = errors.New("not supported by Agora yet")
)

// ErrUnauthenticated is a request whose sender is not known (401).
var ErrUnauthenticated = errors.New("unauthenticated")
