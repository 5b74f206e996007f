// Package credentials authenticates HTTP clients that hold no client
// certificate by a principal and a secret, read from a file in the format
// of Mesos' --credentials flag:
//
//	{"credentials": [{"principal": "ops", "secret": "s3cret"}]}
//
// or, as Mesos also reads it, one "principal secret" pair per line. A
// request authenticates with HTTP Basic (the principal as user name, the
// secret as password; Mesos' basic HTTP authenticator) or with
// "Authorization: Bearer <secret>", which names the principal whose secret
// it is. Secrets are compared in constant time. The principal found then
// goes through the access control lists as a certificate's name does.
//
// The master's operator API uses it; the Mesos HTTP API reuses it for
// HTTP frameworks.
package credentials

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/agora-sched/agora/cluster/filewatch"
	"github.com/agora-sched/agora/cluster/security"
)

// Errors.
var (
	// ErrInvalid wraps every reason a credentials file is refused.
	ErrInvalid = errors.New("invalid credentials file")
	// ErrUnauthenticated is a request whose credentials match none: a
	// wrong secret, an unknown principal, a malformed header. It does not
	// say which, so as not to tell an attacker which principals exist.
	ErrUnauthenticated = errors.New("credentials not accepted: the principal and secret (HTTP Basic) or the bearer token match no credential of this cluster")
)

// MaxCredentials bounds a file: every bearer token is compared with each.
const MaxCredentials = 1000

// Credential is one principal and its secret.
type Credential struct {
	Principal string `json:"principal"`
	Secret    string `json:"secret"`
}

// Set is a parsed credentials file. Safe for concurrent use (it does not
// change).
type Set struct {
	// byPrincipal holds each secret's SHA-256: comparing digests of equal
	// length keeps a secret's length from showing in the time taken.
	byPrincipal map[string][32]byte
	all         []entry
}

type entry struct {
	principal string
	digest    [32]byte
}

// Parse reads credentials in Mesos' JSON format, or as "principal secret"
// lines. Principals must be valid identity names (as a certificate's), and
// unique; secrets must be non-empty and unique (a bearer token names its
// principal by its secret alone).
func Parse(b []byte) (*Set, error) {
	var creds []Credential
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var doc struct {
			Credentials []Credential `json:"credentials"`
		}
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		creds = doc.Credentials
	} else {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, filewatch.MaxSize)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Fields(line)
			if len(f) != 2 {
				return nil, fmt.Errorf("%w: line %d: want \"principal secret\"", ErrInvalid, n)
			}
			creds = append(creds, Credential{Principal: f[0], Secret: f[1]})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("%w: no credentials in it", ErrInvalid)
	}
	if len(creds) > MaxCredentials {
		return nil, fmt.Errorf("%w: %d credentials; at most %d", ErrInvalid, len(creds), MaxCredentials)
	}
	s := &Set{byPrincipal: map[string][32]byte{}}
	secrets := map[[32]byte]string{}
	for i, c := range creds {
		if err := security.ValidName(c.Principal); err != nil {
			return nil, fmt.Errorf("%w: credential %d: principal: %w", ErrInvalid, i, err)
		}
		if c.Secret == "" {
			return nil, fmt.Errorf("%w: principal %q has an empty secret", ErrInvalid, c.Principal)
		}
		if _, dup := s.byPrincipal[c.Principal]; dup {
			return nil, fmt.Errorf("%w: principal %q appears twice", ErrInvalid, c.Principal)
		}
		d := sha256.Sum256([]byte(c.Secret))
		if other, dup := secrets[d]; dup {
			return nil, fmt.Errorf("%w: principals %q and %q have the same secret; a bearer token must name one principal", ErrInvalid, other, c.Principal)
		}
		secrets[d] = c.Principal
		s.byPrincipal[c.Principal] = d
		s.all = append(s.all, entry{principal: c.Principal, digest: d})
	}
	return s, nil
}

// LoadFile reads and parses a credentials file.
func LoadFile(path string) (*Set, error) {
	b, err := filewatch.Read(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	return s, nil
}

// Authenticate is the principal r's credentials name. presented is false
// when r carries no Authorization header (the caller decides what an
// anonymous request may do); a header that does not authenticate is
// ErrUnauthenticated.
func (s *Set) Authenticate(r *http.Request) (principal string, presented bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	if s == nil {
		return "", true, ErrUnauthenticated
	}
	if user, pass, ok := r.BasicAuth(); ok {
		return s.check(user, pass)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if ok && strings.EqualFold(scheme, "Bearer") && token != "" {
		return s.bearer(strings.TrimSpace(token))
	}
	return "", true, ErrUnauthenticated
}

func (s *Set) check(principal, secret string) (string, bool, error) {
	want, known := s.byPrincipal[principal]
	got := sha256.Sum256([]byte(secret))
	// Compare even for an unknown principal, so the time taken does not
	// tell whether it exists.
	if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known {
		return principal, true, nil
	}
	return "", true, ErrUnauthenticated
}

func (s *Set) bearer(token string) (string, bool, error) {
	got := sha256.Sum256([]byte(token))
	found := ""
	// Every entry is compared, whichever matches, so the time taken does
	// not tell where in the file a secret is.
	for _, e := range s.all {
		if subtle.ConstantTimeCompare(got[:], e.digest[:]) == 1 {
			found = e.principal
		}
	}
	if found == "" {
		return "", true, ErrUnauthenticated
	}
	return found, true, nil
}

// Len is how many credentials the set holds.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.all)
}
