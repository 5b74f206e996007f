package security

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// Role is what a certificate's holder is in the cluster.
type Role string

// The roles a certificate can name.
const (
	RoleMaster    Role = "master"
	RoleAgent     Role = "agent"
	RoleFramework Role = "framework"
	RoleOperator  Role = "operator"
)

// Roles lists the roles of a cluster's nodes and clients: what agora dev
// and agora tls cert issue.
var Roles = []Role{RoleMaster, RoleAgent, RoleFramework, RoleOperator}

// RoleAgentHost is a test harness's process that hosts many simulated
// agents on one connection (testkit/scale). A certificate of this role
// is not an agent's: a master refuses it unless started with
// --max-agents-per-agent-host N, and then takes from it only agents whose
// hostnames are <name>-0 .. <name>-(N-1), each checked as an agent's own
// certificate is (actors/master/core/identity.go). It is not in Roles, so
// neither agora dev nor agora tls cert issues one.
const RoleAgentHost Role = "agent-host"

// Two pseudo-roles name senders with no certificate.
const (
	// roleLocal: a message from an actor of this process.
	roleLocal Role = "local"
	// roleInsecure: a message over a connection without TLS (--insecure).
	roleInsecure Role = "insecure"
)

// Identity is who sent a message, as the connection it came on vouches.
type Identity struct {
	Role Role
	Name string
}

var (
	// Local is the identity of messages sent within this process: there is
	// no connection to vouch for them, and the process trusts itself.
	Local = Identity{Role: roleLocal}
	// Insecure is the identity of messages that came over a connection
	// without TLS: nothing is known of their sender. Only nodes run with
	// --insecure accept such connections, and there every check passes, as
	// it did before Agora authenticated anyone.
	Insecure = Identity{Role: roleInsecure}
)

// URIScheme is the scheme of the URI SAN that names an identity.
const URIScheme = "agora"

// maxNameLen bounds an identity's name.
const maxNameLen = 64

// ParseRole checks a role's spelling.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	if s == string(RoleAgentHost) {
		return RoleAgentHost, nil
	}
	return "", fmt.Errorf("unknown role %q: want master, agent, framework or operator", s)
}

// ValidName checks a name: 1 to 64 of letters, digits, '.', '_' and '-', so
// that it sits in a URI path, a file name and a log line as it is.
func ValidName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("identity name %q: want 1 to %d characters", name, maxNameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("identity name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	return nil
}

// URI is the identity as a certificate names it: agora://<role>/<name>.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: URIScheme, Host: string(id.Role), Path: "/" + id.Name}
}

// String is role/name, "local" or "insecure".
func (id Identity) String() string {
	if !id.Authenticated() {
		return string(id.Role)
	}
	return string(id.Role) + "/" + id.Name
}

// Authenticated reports an identity a certificate vouched for.
func (id Identity) Authenticated() bool {
	return id.Role != roleLocal && id.Role != roleInsecure && id.Role != ""
}

// Principal is the name the master's core keeps a sender's principal as
// (its certificate's name), or "" where the transport authenticated nobody
// (a local or insecure sender).
func (id Identity) Principal() string {
	if !id.Authenticated() {
		return ""
	}
	return id.Name
}

// Acts reports whether a message from id may be taken as one from role:
// id holds a certificate of that role, or it is trusted without one (this
// process, or a node run with --insecure).
func (id Identity) Acts(role Role) bool {
	return id.Role == role || id.Role == roleLocal || id.Role == roleInsecure
}

// FromCertificate reads the identity a certificate names: exactly one URI
// SAN agora://<role>/<name>. It does not verify the certificate.
func FromCertificate(cert *x509.Certificate) (Identity, error) {
	var found []Identity
	for _, u := range cert.URIs {
		if u.Scheme != URIScheme {
			continue
		}
		role, err := ParseRole(u.Host)
		if err != nil {
			return Identity{}, fmt.Errorf("certificate %q: URI %s: %w", cert.Subject.CommonName, u, err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		if err := ValidName(name); err != nil || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return Identity{}, fmt.Errorf("certificate %q: URI %s is not agora://<role>/<name>", cert.Subject.CommonName, u)
		}
		found = append(found, Identity{Role: role, Name: name})
	}
	switch len(found) {
	case 0:
		return Identity{}, fmt.Errorf("certificate %q names no Agora identity (no URI SAN agora://<role>/<name>): issue it with agora tls cert", cert.Subject.CommonName)
	case 1:
		return found[0], nil
	}
	return Identity{}, fmt.Errorf("certificate %q names %d Agora identities; want one", cert.Subject.CommonName, len(found))
}

// Message headers that carry the sender's identity to an actor. Remoting
// sets them on every message it delivers, over whatever the sender put
// there; local messages do not have them.
const (
	HeaderRole = "agora-sender-role"
	HeaderName = "agora-sender-name"
)

// Header is the message header remoting stamps on the messages of a
// connection with identity id. Receivers only read it.
func (id Identity) Header() map[string]string {
	return map[string]string{HeaderRole: string(id.Role), HeaderName: id.Name}
}

// headed is what an actor context offers to read a message's header.
type headed interface {
	MessageHeader() actor.ReadonlyMessageHeader
}

// SenderOf is who sent the message an actor is handling: the identity
// remoting stamped on it, or Local for a message from this process.
func SenderOf(ctx headed) Identity {
	h := ctx.MessageHeader()
	if h == nil {
		return Local
	}
	role := h.Get(HeaderRole)
	if role == "" {
		return Local
	}
	return Identity{Role: Role(role), Name: h.Get(HeaderName)}
}
