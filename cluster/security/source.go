package security

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// Files names a node's PEM files: the CA certificates it trusts (one or
// more: during a CA rotation, the old and the new), its certificate (the
// leaf first, then any intermediates) and the certificate's private key.
type Files struct {
	CA, Cert, Key string
}

// Source is a node's certificate and trusted CAs, loaded from Files and
// reloaded when one of them changes. Safe for concurrent use.
type Source struct {
	files Files
	log   *slog.Logger

	mu     sync.Mutex
	stamps [3]stamp // of CA, Cert, Key when last loaded (or tried)
	cur    *material
}

// material is one consistent load of the files.
type material struct {
	cert *tls.Certificate
	pool *x509.CertPool
	id   Identity
}

// stamp tells whether a file changed since it was read.
type stamp struct {
	ino   uint64
	size  int64
	mtime time.Time
}

// Load reads files; it fails if they do not make a usable certificate
// (missing, unreadable, a key that does not match, no Agora identity, not
// signed by one of the CAs).
func Load(files Files, logger *slog.Logger) (*Source, error) {
	if files.CA == "" || files.Cert == "" || files.Key == "" {
		return nil, errors.New("TLS needs a CA file, a certificate and its key (--tls-ca, --tls-cert, --tls-key; agora tls ca and agora tls cert make them)")
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Source{files: files, log: logger}
	stamps, _ := s.stat()
	m, err := load(files)
	if err != nil {
		return nil, err
	}
	s.stamps, s.cur = stamps, m
	return s, nil
}

// Files are the files the source reads.
func (s *Source) Files() Files { return s.files }

// Identity is who this node's current certificate says it is.
func (s *Source) Identity() Identity { return s.current().id }

// Certificate is the node's certificate as the files hold it now.
func (s *Source) Certificate() *tls.Certificate { return s.current().cert }

// Pool is the CAs the files hold now.
func (s *Source) Pool() *x509.CertPool { return s.current().pool }

// current reloads the files if they changed since the last look, and
// returns the last material that loaded.
func (s *Source) current() *material {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamps, err := s.stat()
	if err != nil || stamps == s.stamps {
		return s.cur // a file gone for a moment (being replaced) keeps the last good one
	}
	s.stamps = stamps // tried once per change: a bad file is not re-read every handshake
	m, err := load(s.files)
	if err != nil {
		s.log.Warn("TLS files changed but do not load; keeping the previous certificate (replace cert and key together, then the CA file)",
			"cert", s.files.Cert, "err", err)
		return s.cur
	}
	if m.id != s.cur.id {
		s.log.Warn("TLS certificate reloaded with another identity", "was", s.cur.id.String(), "now", m.id.String())
	}
	s.log.Info("TLS files reloaded", "identity", m.id.String(), "expires", m.cert.Leaf.NotAfter)
	s.cur = m
	return m
}

func (s *Source) stat() ([3]stamp, error) {
	var out [3]stamp
	for i, path := range []string{s.files.CA, s.files.Cert, s.files.Key} {
		fi, err := os.Stat(path)
		if err != nil {
			return out, err
		}
		out[i] = stamp{size: fi.Size(), mtime: fi.ModTime()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			out[i].ino = st.Ino
		}
	}
	return out, nil
}

func load(files Files) (*material, error) {
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := parsePool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", files.CA, err)
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return nil, fmt.Errorf("certificate %s with key %s: %w", files.Cert, files.Key, err)
	}
	id, err := FromCertificate(cert.Leaf)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: unreadable intermediate: %w", files.Cert, err)
		}
		chain = append(chain, c)
	}
	if _, err := verify(pool, cert.Leaf, chain, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, fmt.Errorf("certificate %s: %w", files.Cert, err)
	}
	return &material{cert: &cert, pool: pool, id: id}, nil
}

// parsePool reads every CA certificate of a PEM file.
func parsePool(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		if !c.IsCA {
			return nil, fmt.Errorf("certificate %q is not a CA", c.Subject.CommonName)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no CA certificate in it")
	}
	return pool, nil
}

// verify checks a peer's chain against pool and reads its identity.
func verify(pool *x509.CertPool, leaf *x509.Certificate, rest []*x509.Certificate, usage x509.ExtKeyUsage) (Identity, error) {
	inter := x509.NewCertPool()
	for _, c := range rest {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return Identity{}, fmt.Errorf("not signed by this cluster's CA (or expired): %w", err)
	}
	return FromCertificate(leaf)
}
