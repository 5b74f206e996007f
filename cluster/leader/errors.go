package leader

import "errors"

// Why a term ended (Term.Err); check with errors.Is.
var (
	// ErrLeaseExpired: the leader could not pass its check and confirm its
	// lock within the lease (Consul unreachable or too slow); a successor
	// may be elected as soon as the lease would have run out.
	ErrLeaseExpired = errors.New("leadership lease expired: Consul did not confirm the lock in time")
	// ErrLockLost: Consul says another session (or none) holds the lock:
	// the session was invalidated or destroyed.
	ErrLockLost = errors.New("the leader lock is no longer held by this master's session")
	// ErrResigned: the master gave up its term (Term.Resign, or the
	// campaign's context ended).
	ErrResigned = errors.New("resigned")
	// ErrDeposed: an in-memory Group ended the term (Group.Depose), as a
	// lost session would.
	ErrDeposed = errors.New("deposed")
)
