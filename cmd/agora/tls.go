package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/agora-sched/agora/cluster/security"
)

// tlsFlags are how a process finds its certificate, as every agora command
// that talks to a cluster takes them. TLS is on unless --insecure.
type tlsFlags struct {
	TLSCA    string `name:"tls-ca" env:"AGORA_TLS_CA" group:"TLS" help:"PEM file of the cluster's CA certificates (agora tls ca makes one); re-read when it changes."`
	TLSCert  string `name:"tls-cert" env:"AGORA_TLS_CERT" group:"TLS" help:"PEM file of this process's certificate (agora tls cert makes one); re-read when it changes."`
	TLSKey   string `name:"tls-key" env:"AGORA_TLS_KEY" group:"TLS" help:"PEM file of the certificate's private key."`
	TLSDir   string `name:"tls-dir" env:"AGORA_TLS_DIR" group:"TLS" help:"Directory with ca.pem, <role>.pem and <role>-key.pem, for the files not given one by one (agora dev writes its own there)."`
	Insecure bool   `env:"AGORA_INSECURE" group:"TLS" help:"No TLS: remoting and HTTP in plaintext, nobody authenticated. Only on a network nobody else can reach."`
}

// options are the flags as security takes them.
func (f tlsFlags) options() security.Options {
	return security.Options{Files: security.Files{CA: f.TLSCA, Cert: f.TLSCert, Key: f.TLSKey}, Dir: f.TLSDir, Insecure: f.Insecure}
}

// load loads the certificate of a node of role (nil when --insecure).
func (f tlsFlags) load(role security.Role, logger *slog.Logger) (*security.Source, error) {
	return f.options().Load(role, logger)
}

// client loads a client tool's certificate: as load, but looking in agora
// dev's directory when told nothing, so that agora status and run work
// against agora dev as they are.
func (f tlsFlags) client(role security.Role, logger *slog.Logger) (*security.Source, error) {
	if f.TLSDir == "" {
		f.TLSDir = security.DevDir()
	}
	return f.load(role, logger)
}

type tlsCmd struct {
	CA   tlsCACmd   `cmd:"" name:"ca" help:"Create a CA for a new cluster: ca.pem (give it to every node) and ca-key.pem (keep it off the nodes)."`
	Cert tlsCertCmd `cmd:"" help:"Create a certificate signed by the CA: agora tls cert --role agent|master|framework|operator --name NAME."`
}

type tlsCACmd struct {
	Dir   string `default:"." help:"Directory to write ca.pem and ca-key.pem in."`
	Name  string `default:"agora" help:"Name in the CA certificate's subject."`
	Days  int    `default:"1825" help:"Days the CA is valid."`
	Force bool   `help:"Replace existing files."`
}

func (c *tlsCACmd) Run(*slog.Logger) error {
	p, err := security.NewCA(c.Name, time.Now(), time.Duration(c.Days)*24*time.Hour)
	if err != nil {
		return err
	}
	cert, key := filepath.Join(c.Dir, "ca.pem"), filepath.Join(c.Dir, "ca-key.pem")
	if err := security.WriteFiles(p, cert, key, c.Force); err != nil {
		return err
	}
	fmt.Printf("CA certificate %s (every node's --tls-ca)\nCA key %s (keep it secret, and off the nodes)\n", cert, key)
	return nil
}

type tlsCertCmd struct {
	Role  string   `required:"" enum:"master,agent,framework,operator" help:"What the holder is: master, agent, framework or operator."`
	Name  string   `help:"The holder's name (default: this host's name): letters, digits, '.', '_', '-'."`
	Host  []string `help:"DNS name or IP address to add for clients that check hostnames (curl, browsers); repeat for several. localhost and 127.0.0.1 are always added."`
	Dir   string   `default:"." help:"Directory to write the certificate and key in."`
	Out   string   `help:"File name prefix: writes PREFIX.pem and PREFIX-key.pem (default <role>-<name>; --out <role> makes the names --tls-dir looks for)."`
	CA    string   `name:"ca" help:"CA certificate (default ca.pem in --dir)."`
	CAKey string   `name:"ca-key" help:"CA key (default ca-key.pem in --dir)."`
	Days  int      `default:"365" help:"Days the certificate is valid."`
	Force bool     `help:"Replace existing files."`
}

func (c *tlsCertCmd) Run(*slog.Logger) error {
	name := c.Name
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w (pass --name)", err)
		}
		name = h
	}
	caCert, caKey := c.CA, c.CAKey
	if caCert == "" {
		caCert = filepath.Join(c.Dir, "ca.pem")
	}
	if caKey == "" {
		caKey = filepath.Join(c.Dir, "ca-key.pem")
	}
	ca, err := security.ReadPEM(caCert, caKey)
	if err != nil {
		return fmt.Errorf("read the CA (agora tls ca makes one; --ca and --ca-key name it): %w", err)
	}
	id := security.Identity{Role: security.Role(c.Role), Name: name}
	p, err := security.Issue(ca, security.Request{Identity: id, Hosts: append([]string{"localhost", "127.0.0.1"}, c.Host...),
		Validity: time.Duration(c.Days) * 24 * time.Hour}, time.Now())
	if err != nil {
		return err
	}
	out := c.Out
	if out == "" {
		out = c.Role + "-" + name
	}
	cert, key := filepath.Join(c.Dir, out+".pem"), filepath.Join(c.Dir, out+"-key.pem")
	if err := security.WriteFiles(p, cert, key, c.Force); err != nil {
		return err
	}
	fmt.Printf("certificate for %s: %s (--tls-cert), key %s (--tls-key)\n", id, cert, key)
	return nil
}

// authFlags let an operator's command authenticate to the master's HTTP
// API with a principal and secret (the master's --credentials) rather than
// a client certificate.
type authFlags struct {
	Principal string `env:"AGORA_PRINCIPAL" group:"Credentials" help:"Authenticate to the master's HTTP API as this principal, with --secret (HTTP Basic), instead of a client certificate."`
	Secret    string `env:"AGORA_SECRET" group:"Credentials" help:"The principal's secret, as the master's --credentials file holds it; without --principal it is sent as a bearer token."`
}

// httpClient is the client to reach the master's API with and its URL
// scheme: with credentials, one that verifies the server against the
// cluster's CA and shows no certificate; else one with the operator's
// certificate.
func (a authFlags) httpClient(f tlsFlags, timeout time.Duration) (*http.Client, string, error) {
	if a.Secret == "" {
		if a.Principal != "" {
			return nil, "", errors.New("--principal needs --secret (or AGORA_SECRET)")
		}
		src, err := f.client(security.RoleOperator, quietLogger(slog.Default()))
		if err != nil {
			return nil, "", err
		}
		return security.HTTPClient(src, timeout), security.Scheme(src), nil
	}
	if f.Insecure {
		return &http.Client{Timeout: timeout}, "http", nil
	}
	if f.TLSDir == "" && f.TLSCA == "" {
		f.TLSDir = security.DevDir()
	}
	ca := f.options().Resolve(security.RoleOperator).CA
	cfg, err := security.CAClientConfig(ca)
	if err != nil {
		return nil, "", fmt.Errorf("%w (--tls-ca: the cluster's CA, to verify the master)", err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return &http.Client{Transport: t, Timeout: timeout}, "https", nil
}

// sign adds the credentials to req: HTTP Basic with a principal, else the
// secret as a bearer token.
func (a authFlags) sign(req *http.Request) {
	switch {
	case a.Principal != "":
		req.SetBasicAuth(a.Principal, a.Secret)
	case a.Secret != "":
		req.Header.Set("Authorization", "Bearer "+a.Secret)
	}
}
