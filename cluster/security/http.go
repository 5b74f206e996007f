package security

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// IdentityOf is who sent an HTTP request: its client certificate's
// identity; Insecure over plain HTTP; the zero Identity for a TLS client
// that showed no certificate.
func IdentityOf(r *http.Request) Identity {
	if r.TLS == nil {
		return Insecure
	}
	id, _ := PeerIdentity(r.TLS)
	return id
}

// RequireIdentity refuses (401) a TLS request without a client
// certificate, except on the open paths (such as /health, for probes that
// hold no certificate). Plain HTTP passes: the server runs --insecure.
// Handlers find the client's identity in the request's context
// (IdentityFrom).
func RequireIdentity(h http.Handler, metrics *Metrics, logger *slog.Logger, open ...string) http.Handler {
	return HTTPGate{Metrics: metrics, Logger: logger, Open: open}.Handler(h)
}

// Authenticator authenticates an HTTP request by the credentials it
// carries (package credentials: HTTP Basic, a bearer token). presented is
// false when it carries none.
type Authenticator interface {
	Authenticate(r *http.Request) (principal string, presented bool, err error)
}

// HTTPGate lets into an HTTP API only the clients it authenticates: by
// their client certificate, or, for clients without one, by credentials.
type HTTPGate struct {
	Metrics *Metrics
	Logger  *slog.Logger
	// Open paths serve anyone the transport lets in (/health: probes hold
	// no certificate); a client's identity is still found if it shows one.
	Open []string
	// Credentials is the authenticator in force, asked on each request
	// without a client certificate (nil, or nil returned: none; such a
	// request is refused over TLS). It must not block.
	Credentials func() Authenticator
	// CredentialRole is the role a principal authenticated by credentials
	// acts in (an operator on the master's API, a framework on the Mesos
	// scheduler API): the access control lists then decide as for a
	// certificate of that role and name.
	CredentialRole Role
}

// Handler puts the client's identity in each request's context
// (IdentityFrom), or refuses it: 401 with a WWW-Authenticate challenge for
// a TLS client with neither a certificate nor credentials, and for any
// client whose credentials are wrong. A certificate, when shown, is who
// the client is, whatever else the request carries.
func (g HTTPGate) Handler(h http.Handler) http.Handler {
	logger := g.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		open := slices.Contains(g.Open, r.URL.Path)
		id := IdentityOf(r)
		var auth Authenticator
		if g.Credentials != nil {
			auth = g.Credentials()
		}
		hasCert := r.TLS != nil && len(r.TLS.PeerCertificates) > 0
		if !hasCert && auth != nil {
			principal, presented, err := auth.Authenticate(r)
			switch {
			case err != nil && !open:
				g.Metrics.Refuse("http", "bad_credentials")
				logger.Warn("HTTP request with credentials that match none refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
				g.unauthorized(w, err.Error())
				return
			case err == nil && presented:
				id = Identity{Role: g.CredentialRole, Name: principal}
			}
		}
		if r.TLS != nil && !hasCert && !id.Authenticated() && !open {
			g.Metrics.Refuse("http", "no_certificate")
			logger.Warn("HTTP request without a client certificate refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			text := ErrNoCertificate.Error()
			if auth != nil {
				text = "no client certificate and no credentials: show a certificate signed by this cluster's CA, or a principal and secret (HTTP Basic, or Authorization: Bearer <secret>)"
			}
			g.unauthorized(w, text)
			return
		}
		h.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// unauthorized answers 401 with the challenges a client can answer: HTTP
// Basic and bearer tokens where credentials are configured.
func (g HTTPGate) unauthorized(w http.ResponseWriter, text string) {
	w.Header().Add("WWW-Authenticate", `Basic realm="agora"`)
	w.Header().Add("WWW-Authenticate", `Bearer realm="agora"`)
	http.Error(w, text, http.StatusUnauthorized)
}

type identityKey struct{}

// WithIdentity is ctx carrying who asked (RequireIdentity puts the HTTP
// client's identity in its request's context).
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom is who asked, as WithIdentity put it in ctx.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Scheme is the URL scheme of Agora's HTTP APIs with src (nil: plain).
func Scheme(src *Source) string {
	if src == nil {
		return "http"
	}
	return "https"
}

// HTTPClient is a client of Agora's HTTP APIs: with src's certificate,
// verifying servers against its CAs (nil src: plain HTTP).
func HTTPClient(src *Source, timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if src != nil {
		t.TLSClientConfig = src.ClientConfig()
	}
	return &http.Client{Transport: t, Timeout: timeout}
}

// HTTPErrorLog is an http.Server's ErrorLog that goes to logger at Warn,
// counting refused TLS handshakes (a client with no or a bad certificate,
// or plain HTTP on a TLS port).
func HTTPErrorLog(logger *slog.Logger, metrics *Metrics) *log.Logger {
	return log.New(errorLogWriter{logger, metrics}, "", 0)
}

type errorLogWriter struct {
	logger  *slog.Logger
	metrics *Metrics
}

func (w errorLogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	if bytes.Contains(p, []byte("TLS handshake error")) {
		w.metrics.Refuse("http", "handshake")
		w.logger.Warn("HTTP connection refused", "err", line)
	} else {
		w.logger.Warn("HTTP server", "err", line)
	}
	return len(p), nil
}
