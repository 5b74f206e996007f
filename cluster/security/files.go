package security

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// WriteFiles writes p's certificate and key, each atomically (a temporary
// file renamed over the old), so that a node reloading them sees whole
// files; the key is readable by its owner only. Existing files are
// replaced only when overwrite is set.
func WriteFiles(p PEM, certPath, keyPath string, overwrite bool) error {
	if !overwrite {
		for _, path := range []string{certPath, keyPath} {
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s exists; remove it or pass --force to replace it", path)
			}
		}
	}
	if err := writeAtomic(keyPath, p.Key, 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, p.Cert, 0o644)
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// ReadPEM reads a certificate and key from files.
func ReadPEM(certPath, keyPath string) (PEM, error) {
	c, err := os.ReadFile(certPath)
	if err != nil {
		return PEM{}, err
	}
	k, err := os.ReadFile(keyPath)
	if err != nil {
		return PEM{}, err
	}
	return PEM{Cert: c, Key: k}, nil
}

// Bootstrap makes dir hold a CA (ca.pem, ca-key.pem) and a certificate of
// each role in names (<role>.pem, <role>-key.pem, named names[role], for
// hosts), reusing what is there and still valid for a day: agora dev's one
// command cluster. It reports whether it made anything.
func Bootstrap(dir string, names map[Role]string, hosts []string, now time.Time) (made bool, err error) {
	caCert, caKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	ca, err := ReadPEM(caCert, caKey)
	if err != nil || !fresh(ca, nil, now) {
		if ca, err = NewCA("dev", now, DefaultCAValidity); err != nil {
			return false, err
		}
		if err := WriteFiles(ca, caCert, caKey, true); err != nil {
			return false, fmt.Errorf("write the dev CA in %s: %w", dir, err)
		}
		made = true
	}
	for role, name := range names {
		f := DirFiles(dir, role)
		have, err := ReadPEM(f.Cert, f.Key)
		if err == nil && !made && fresh(have, &ca, now) {
			continue
		}
		p, err := Issue(ca, Request{Identity: Identity{Role: role, Name: name}, Hosts: hosts}, now)
		if err != nil {
			return false, err
		}
		if err := WriteFiles(p, f.Cert, f.Key, true); err != nil {
			return false, fmt.Errorf("write the dev %s certificate in %s: %w", role, dir, err)
		}
		made = true
	}
	return made, nil
}

// fresh reports a pair that loads, is valid for another day, and (for a
// leaf, when ca is given) chains to ca.
func fresh(p PEM, ca *PEM, now time.Time) bool {
	leaf, _, err := parsePair(p)
	if err != nil || now.Add(24*time.Hour).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	if ca == nil {
		return leaf.IsCA
	}
	pool, err := parsePool(ca.Cert)
	if err != nil {
		return false
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}
