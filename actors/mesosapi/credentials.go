package mesosapi

import (
	"fmt"
	"net/http"

	"github.com/agora-sched/agora/cluster/security"
)

// FrameworkCredentials is a Config.Authenticate that takes HTTP
// frameworks' credentials (the master's --credentials: HTTP Basic, or
// Authorization: Bearer <secret>), as Mesos' basic HTTP authenticator does
// with --authenticate_http_frameworks. The principal they name is the
// framework's principal: it subscribes as a framework of that name, so the
// master's core holds it to FrameworkInfo.principal and checks the access
// control lists (register_frameworks, run_tasks) as for a native
// framework's certificate.
//
// A client certificate, when shown, is who the client is. Without one, a
// request must carry credentials while any are configured (nil, or nil
// returned: none; then the client is who its connection says, as without
// this hook): Mesos answers such a request 401, and so does the API.
//
// The operator gate in front of the master's API may have taken the same
// credentials as an operator's; they are checked again here so that the
// principal acts as a framework, never with an operator's role.
func FrameworkCredentials(creds func() security.Authenticator) func(r *http.Request) (security.Identity, error) {
	return func(r *http.Request) (security.Identity, error) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			return certificateIdentity(r)
		}
		var auth security.Authenticator
		if creds != nil {
			auth = creds()
		}
		if auth == nil {
			return certificateIdentity(r)
		}
		principal, presented, err := auth.Authenticate(r)
		switch {
		case err != nil:
			return security.Identity{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		case !presented:
			return security.Identity{}, fmt.Errorf("%w: this master authenticates frameworks (--credentials): send the principal and secret with HTTP Basic, or Authorization: Bearer <secret>", ErrUnauthenticated)
		}
		return security.Identity{Role: security.RoleFramework, Name: principal}, nil
	}
}
