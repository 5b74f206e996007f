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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) == 0 && !slices.Contains(open, r.URL.Path) {
			metrics.Refuse("http", "no_certificate")
			logger.Warn("HTTP request without a client certificate refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			http.Error(w, ErrNoCertificate.Error(), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), IdentityOf(r))))
	})
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
