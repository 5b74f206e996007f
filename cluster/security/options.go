package security

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
)

// Environment variables every Agora program reads its TLS options from
// (agora's own flags name them too).
const (
	EnvCA       = "AGORA_TLS_CA"
	EnvCert     = "AGORA_TLS_CERT"
	EnvKey      = "AGORA_TLS_KEY"
	EnvDir      = "AGORA_TLS_DIR"
	EnvInsecure = "AGORA_INSECURE"
)

// Options is how a process is told where its certificates are.
type Options struct {
	// Files given one by one; each overrides what Dir would give.
	Files
	// Dir holds certificates by role: ca.pem, <role>.pem, <role>-key.pem
	// (what agora dev writes, and agora tls cert --out <role>). Empty: none.
	Dir string
	// Insecure turns TLS off: no certificate is needed or checked, and
	// anyone who reaches the ports is trusted, as before Agora had TLS.
	Insecure bool
}

// DevDir is where agora dev keeps its CA and certificates by default, and
// so where clients (agora status, run, the examples) look when told
// nothing else.
func DevDir() string { return filepath.Join(os.TempDir(), "agora-dev", "tls") }

// DirFiles are the files for role in dir.
func DirFiles(dir string, role Role) Files {
	return Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, string(role)+".pem"), Key: filepath.Join(dir, string(role)+"-key.pem")}
}

// Resolve is the files for role: those given, completed from Dir.
func (o Options) Resolve(role Role) Files {
	f := o.Files
	if o.Dir == "" {
		return f
	}
	d := DirFiles(o.Dir, role)
	if f.CA == "" {
		f.CA = d.CA
	}
	if f.Cert == "" {
		f.Cert = d.Cert
	}
	if f.Key == "" {
		f.Key = d.Key
	}
	return f
}

// Load loads the certificate a process of role uses; nil (and a loud
// warning) when Insecure. A certificate of another role is refused: what a
// peer lets this process do depends on it.
func (o Options) Load(role Role, logger *slog.Logger) (*Source, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if o.Insecure {
		logger.Warn("INSECURE: TLS is off (--insecure). Remoting and HTTP are plaintext and unauthenticated: anyone who reaches these ports can command this cluster. Use only on a network nobody else can reach.")
		return nil, nil
	}
	files := o.Resolve(role)
	if files.CA == "" || files.Cert == "" || files.Key == "" {
		return nil, fmt.Errorf("TLS is on by default and needs a CA file, a %s certificate and its key: pass --tls-ca, --tls-cert and --tls-key (agora tls ca and agora tls cert --role %s make them), or --tls-dir, or --insecure on a trusted network", role, role)
	}
	src, err := Load(files, logger)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && o.Dir != "" {
			return nil, fmt.Errorf("%w (looked in %s: is agora dev running, or were the certificates made there? pass --tls-ca, --tls-cert and --tls-key, or --insecure)", err, o.Dir)
		}
		return nil, err
	}
	if id := src.Identity(); id.Role != role {
		return nil, fmt.Errorf("certificate %s is for %s, but this process needs a %s certificate (agora tls cert --role %s)", files.Cert, id, role, role)
	}
	logger.Debug("TLS on", "identity", src.Identity().String(), "cert", files.Cert, "ca", files.CA)
	return src, nil
}

// FromEnv reads Options from the environment (AGORA_TLS_CA, _CERT, _KEY,
// _DIR, AGORA_INSECURE), with Dir defaulting to DevDir: how frameworks,
// executors and tools find their certificates without flags.
func FromEnv() Options {
	o := Options{Files: Files{CA: os.Getenv(EnvCA), Cert: os.Getenv(EnvCert), Key: os.Getenv(EnvKey)}, Dir: os.Getenv(EnvDir)}
	if o.Dir == "" {
		o.Dir = DevDir()
	}
	o.Insecure, _ = strconv.ParseBool(os.Getenv(EnvInsecure))
	return o
}

// RegisterFlags adds --tls-ca, --tls-cert, --tls-key, --tls-dir and
// --insecure to fs, defaulting to what o holds (FromEnv).
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.CA, "tls-ca", o.CA, "PEM file of the cluster's CA certificates ($"+EnvCA+")")
	fs.StringVar(&o.Cert, "tls-cert", o.Cert, "PEM file of this program's certificate ($"+EnvCert+")")
	fs.StringVar(&o.Key, "tls-key", o.Key, "PEM file of the certificate's private key ($"+EnvKey+")")
	fs.StringVar(&o.Dir, "tls-dir", o.Dir, "directory with ca.pem, <role>.pem and <role>-key.pem, for files not given ($"+EnvDir+"; agora dev writes there)")
	fs.BoolVar(&o.Insecure, "insecure", o.Insecure, "no TLS: plaintext and unauthenticated ($"+EnvInsecure+")")
}

// Env is the environment that makes a child process (an executor) find
// the same certificate files as src, or run insecure when src is nil.
func Env(src *Source) map[string]string {
	if src == nil {
		return map[string]string{EnvInsecure: "true"}
	}
	f := src.Files()
	return map[string]string{EnvCA: f.CA, EnvCert: f.Cert, EnvKey: f.Key}
}
