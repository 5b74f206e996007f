package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ClientAuth says what a server asks of its clients.
type ClientAuth int

const (
	// ClientRequired refuses a client without a certificate of this
	// cluster (remoting: every peer is a node, framework or tool).
	ClientRequired ClientAuth = iota
	// ClientOptional lets a client without a certificate in (HTTP: a load
	// balancer's /health probe); one that shows a certificate must still
	// show a valid one, and handlers see who it is (RequireIdentity).
	ClientOptional
)

// ErrNoCertificate is a peer's refusal for showing no certificate.
var ErrNoCertificate = errors.New("no client certificate: this cluster requires one signed by its CA (--tls-cert and --tls-key; agora tls cert makes one)")

// ServerConfig is the TLS configuration of a listener: this node's
// current certificate, TLS 1.3, and clients verified against the current
// CAs.
func (s *Source) ServerConfig(auth ClientAuth) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.Certificate(), nil },
		// Requested, not required and verified by crypto/tls: the chain is
		// checked below against the CA file as it is now, and an optional
		// client may show none.
		ClientAuth: tls.RequestClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				if auth == ClientOptional {
					return nil
				}
				return ErrNoCertificate
			}
			_, err := verify(s.Pool(), cs.PeerCertificates[0], cs.PeerCertificates[1:], x509.ExtKeyUsageClientAuth)
			return err
		},
	}
}

// ClientConfig is the TLS configuration of a dialer: this node's current
// certificate as its client certificate, and the server verified against
// the current CAs. Hostnames are not checked (see the package doc): the
// server must hold a certificate of this cluster, whatever its address.
func (s *Source) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		InsecureSkipVerify:   true, // replaced by VerifyConnection: chain and identity, no hostname
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return s.Certificate(), nil },
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server showed no certificate")
			}
			_, err := verify(s.Pool(), cs.PeerCertificates[0], cs.PeerCertificates[1:], x509.ExtKeyUsageServerAuth)
			return err
		},
	}
}

// PeerIdentity is who the peer of a verified connection is; false when it
// showed no certificate.
func PeerIdentity(cs *tls.ConnectionState) (Identity, bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return Identity{}, false
	}
	id, err := FromCertificate(cs.PeerCertificates[0])
	if err != nil {
		return Identity{}, false // cannot happen: VerifyConnection read it
	}
	return id, true
}

// CAClientConfig is the TLS configuration of a client that shows no
// certificate (it authenticates with a principal and secret): the server
// verified against the CAs in caFile, as ClientConfig verifies it.
func CAClientConfig(caFile string) (*tls.Config, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := parsePool(b)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", caFile, err)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyConnection: chain and identity, no hostname
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server showed no certificate")
			}
			_, err := verify(pool, cs.PeerCertificates[0], cs.PeerCertificates[1:], x509.ExtKeyUsageServerAuth)
			return err
		},
	}, nil
}
