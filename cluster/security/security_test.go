package security

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// cluster writes a CA and one certificate per identity into a temp dir.
func cluster(t *testing.T, ids ...Identity) (dir string, ca PEM) {
	t.Helper()
	dir = t.TempDir()
	ca, err := NewCA("test", time.Now(), time.Hour*48)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(ca, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"), false); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		issue(t, ca, id, DirFiles(dir, id.Role))
	}
	return dir, ca
}

func issue(t *testing.T, ca PEM, id Identity, f Files) {
	t.Helper()
	p, err := Issue(ca, Request{Identity: id, Hosts: []string{"localhost", "127.0.0.1"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(p, f.Cert, f.Key, true); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, f Files) *Source {
	t.Helper()
	s, err := Load(f, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handshake runs a TLS handshake over a pipe and returns what each side
// saw of the other (or the first error).
func handshake(server, client *tls.Config) (serverSaw, clientSaw tls.ConnectionState, err error) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv, cli := tls.Server(a, server), tls.Client(b, client)
	done := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err == nil {
			// TLS 1.3: the client learns of a refusal on its first read.
			_, err = srv.Write([]byte("x"))
		}
		if err != nil {
			srv.Close()
		}
		done <- err
	}()
	cerr := cli.Handshake()
	if cerr == nil {
		_, cerr = io.ReadFull(cli, make([]byte, 1))
	}
	serr := <-done
	if serr != nil {
		return tls.ConnectionState{}, tls.ConnectionState{}, serr
	}
	if cerr != nil {
		return tls.ConnectionState{}, tls.ConnectionState{}, cerr
	}
	return srv.ConnectionState(), cli.ConnectionState(), nil
}

func TestIdentityFromCertificate(t *testing.T) {
	ca, err := NewCA("t", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Issue(ca, Request{Identity: Identity{Role: RoleAgent, Name: "node-2"}, Hosts: []string{"10.0.0.2", "node-2.example"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _, err := parsePair(p)
	if err != nil {
		t.Fatal(err)
	}
	id, err := FromCertificate(leaf)
	if err != nil || id != (Identity{Role: RoleAgent, Name: "node-2"}) {
		t.Fatalf("identity %v, %v", id, err)
	}
	if leaf.URIs[0].String() != "agora://agent/node-2" || leaf.DNSNames[0] != "node-2.example" || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.2")) {
		t.Fatalf("SANs: %v %v %v", leaf.URIs, leaf.DNSNames, leaf.IPAddresses)
	}
	if leaf.NotAfter.After(now.Add(time.Hour)) {
		t.Fatalf("a certificate outlives its CA: %v", leaf.NotAfter)
	}

	for _, bad := range []Request{
		{Identity: Identity{Role: "root", Name: "x"}},
		{Identity: Identity{Role: RoleAgent, Name: ""}},
		{Identity: Identity{Role: RoleAgent, Name: "a/../b"}},
		{Identity: Identity{Role: RoleAgent, Name: strings.Repeat("a", 65)}},
	} {
		if _, err := Issue(ca, bad, now); err == nil {
			t.Errorf("%v: issued", bad.Identity)
		}
	}
	// Only one identity per certificate, with the agora scheme.
	leaf.URIs = append(leaf.URIs, Identity{Role: RoleMaster, Name: "m"}.URI())
	if _, err := FromCertificate(leaf); err == nil {
		t.Error("two identities: accepted")
	}
	leaf.URIs = nil
	if _, err := FromCertificate(leaf); err == nil {
		t.Error("no identity: accepted")
	}
}

func TestIdentityTrust(t *testing.T) {
	master := Identity{Role: RoleMaster, Name: "m1"}
	for _, c := range []struct {
		id   Identity
		acts bool
		prin string
	}{
		{master, true, "m1"},
		{Identity{Role: RoleAgent, Name: "a"}, false, "a"},
		{Local, true, ""},
		{Insecure, true, ""},
	} {
		if got := c.id.Acts(RoleMaster); got != c.acts {
			t.Errorf("%v acts as master: %v", c.id, got)
		}
		if got := c.id.Principal(); got != c.prin {
			t.Errorf("%v principal %q", c.id, got)
		}
	}
}

func TestMutualTLS(t *testing.T) {
	master, agent := Identity{Role: RoleMaster, Name: "m1"}, Identity{Role: RoleAgent, Name: "a1"}
	dir, _ := cluster(t, master, agent)
	m, a := mustLoad(t, DirFiles(dir, RoleMaster)), mustLoad(t, DirFiles(dir, RoleAgent))
	srv, cli, err := handshake(m.ServerConfig(ClientRequired), a.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := PeerIdentity(&srv); !ok || id != agent {
		t.Fatalf("server saw %v", id)
	}
	if id, ok := PeerIdentity(&cli); !ok || id != master {
		t.Fatalf("client saw %v", id)
	}

	// Another cluster's certificate (an untrusted CA), on either side.
	otherDir, _ := cluster(t, agent)
	other := mustLoad(t, DirFiles(otherDir, RoleAgent))
	if _, _, err := handshake(m.ServerConfig(ClientRequired), other.ClientConfig()); err == nil {
		t.Fatalf("client of another CA: %v", err)
	}
	if _, _, err := handshake(other.ServerConfig(ClientRequired), a.ClientConfig()); err == nil {
		t.Fatal("server of another CA: accepted")
	}

	// No client certificate: refused where required, let in where optional.
	anon := a.ClientConfig()
	anon.GetClientCertificate = nil
	if _, _, err := handshake(m.ServerConfig(ClientRequired), anon); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("no client certificate: %v", err)
	}
	srv, _, err = handshake(m.ServerConfig(ClientOptional), anon)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := PeerIdentity(&srv); ok {
		t.Fatal("an anonymous client has an identity")
	}
}

// Replacing the files rotates the certificate and the CA: the next
// handshake uses the new ones, no restart.
func TestRotationWithoutRestart(t *testing.T) {
	agent := Identity{Role: RoleAgent, Name: "a1"}
	dir, ca := cluster(t, Identity{Role: RoleMaster, Name: "m1"}, agent)
	m, a := mustLoad(t, DirFiles(dir, RoleMaster)), mustLoad(t, DirFiles(dir, RoleAgent))
	serial := func() string {
		_, cli, err := handshake(m.ServerConfig(ClientRequired), a.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		return cli.PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	issue(t, ca, Identity{Role: RoleMaster, Name: "m1"}, DirFiles(dir, RoleMaster))
	if after := serial(); after == before {
		t.Fatal("the master still shows its old certificate after the files were replaced")
	}

	// A half-replaced pair (a key that is not the certificate's) keeps
	// the last good one.
	other, err := Issue(ca, Request{Identity: Identity{Role: RoleMaster, Name: "m1"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kept := serial()
	if err := writeAtomic(DirFiles(dir, RoleMaster).Key, other.Key, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != kept {
		t.Fatalf("a mismatched key changed the certificate: %s, was %s", got, kept)
	}

	// A new CA: the agent's certificate of the old CA stops being accepted
	// once the master's CA file names only the new one.
	newCA, err := NewCA("new", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issue(t, newCA, Identity{Role: RoleMaster, Name: "m1"}, DirFiles(dir, RoleMaster))
	if err := writeAtomic(DirFiles(dir, RoleMaster).CA, newCA.Cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := handshake(m.ServerConfig(ClientRequired), a.ClientConfig()); err == nil {
		t.Fatal("a certificate of the retired CA is still accepted")
	}
	if m.Identity() != (Identity{Role: RoleMaster, Name: "m1"}) {
		t.Fatalf("identity after rotation: %v", m.Identity())
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	dir, _ := cluster(t, Identity{Role: RoleAgent, Name: "a1"})
	f := DirFiles(dir, RoleAgent)
	otherDir, _ := cluster(t)
	for name, files := range map[string]Files{
		"missing key":      {CA: f.CA, Cert: f.Cert, Key: filepath.Join(dir, "nope.pem")},
		"leaf as CA":       {CA: f.Cert, Cert: f.Cert, Key: f.Key},
		"other cluster CA": {CA: filepath.Join(otherDir, "ca.pem"), Cert: f.Cert, Key: f.Key},
		"nothing":          {},
	} {
		if _, err := Load(files, quiet()); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	// A certificate of another role than the process needs.
	if _, err := (Options{Dir: dir}).Load(RoleMaster, quiet()); err == nil {
		t.Error("a master started with an agent's certificate")
	}
	o := Options{Dir: dir, Files: Files{Cert: f.Cert, Key: f.Key}}
	if _, err := o.Load(RoleAgent, quiet()); err != nil {
		t.Errorf("files from flags completed from the dir: %v", err)
	}
	if src, err := (Options{Insecure: true}).Load(RoleAgent, quiet()); src != nil || err != nil {
		t.Errorf("insecure: %v %v", src, err)
	}
}

func TestBootstrapReuses(t *testing.T) {
	dir := t.TempDir()
	names := map[Role]string{RoleMaster: "dev", RoleOperator: "dev"}
	made, err := Bootstrap(dir, names, []string{"localhost"}, time.Now())
	if err != nil || !made {
		t.Fatalf("first bootstrap: %v %v", made, err)
	}
	mustLoad(t, DirFiles(dir, RoleOperator))
	if made, err := Bootstrap(dir, names, nil, time.Now()); err != nil || made {
		t.Fatalf("second bootstrap made new files: %v %v", made, err)
	}
	// A year on, everything is renewed.
	if made, err := Bootstrap(dir, names, nil, time.Now().Add(DefaultCertValidity)); err != nil || !made {
		t.Fatalf("expiring certificates kept: %v %v", made, err)
	}
	if fi, err := os.Stat(DirFiles(dir, RoleOperator).Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
}

func TestHTTPRequiresIdentity(t *testing.T) {
	op := Identity{Role: RoleOperator, Name: "ops"}
	dir, _ := cluster(t, Identity{Role: RoleMaster, Name: "m1"}, op)
	m, o := mustLoad(t, DirFiles(dir, RoleMaster)), mustLoad(t, DirFiles(dir, RoleOperator))
	metrics := NewMetrics(nil)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.ServerConfig(ClientOptional))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: RequireIdentity(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := IdentityFrom(r.Context())
		_, _ = io.WriteString(w, id.String())
	}), metrics, quiet(), "/health"), ErrorLog: HTTPErrorLog(quiet(), metrics)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "https://" + ln.Addr().String()

	get := func(c *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := c.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(HTTPClient(o, 5*time.Second), "/state"); code != 200 || body != "operator/ops" {
		t.Fatalf("operator: %d %s", code, body)
	}
	anon := m.ClientConfig()
	anon.GetClientCertificate = nil
	anonClient := &http.Client{Transport: &http.Transport{TLSClientConfig: anon}}
	if code, _ := get(anonClient, "/state"); code != http.StatusUnauthorized {
		t.Fatalf("no certificate: %d", code)
	}
	if code, _ := get(anonClient, "/health"); code != 200 {
		t.Fatalf("no certificate, /health: %d", code)
	}
	if n := metrics.Refused("http", "no_certificate"); n != 1 {
		t.Fatalf("refusals counted: %v", n)
	}
	// A client that cannot verify the server (no CA) does not connect.
	if _, err := http.Get(url + "/health"); err == nil {
		t.Fatal("a client without the CA trusted the server")
	}
}

// fakeAuth accepts one principal and secret by HTTP Basic.
type fakeAuth struct{}

func (fakeAuth) Authenticate(r *http.Request) (string, bool, error) {
	if r.Header.Get("Authorization") == "" {
		return "", false, nil
	}
	if u, p, ok := r.BasicAuth(); ok && u == "ops" && p == "s3cret" {
		return u, true, nil
	}
	return "", true, errors.New("credentials not accepted")
}

// A client without a certificate gets in with credentials, as the
// credential role; wrong ones are refused with a challenge and counted; a
// certificate, when shown, is who the client is.
func TestHTTPGateTakesCredentialsWithoutCertificate(t *testing.T) {
	dir, _ := cluster(t, Identity{Role: RoleMaster, Name: "m1"}, Identity{Role: RoleOperator, Name: "cert-ops"})
	m, o := mustLoad(t, DirFiles(dir, RoleMaster)), mustLoad(t, DirFiles(dir, RoleOperator))
	metrics := NewMetrics(nil)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.ServerConfig(ClientOptional))
	if err != nil {
		t.Fatal(err)
	}
	gate := HTTPGate{Metrics: metrics, Logger: quiet(), Open: []string{"/health"}, CredentialRole: RoleOperator,
		Credentials: func() Authenticator { return fakeAuth{} }}
	srv := &http.Server{Handler: gate.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := IdentityFrom(r.Context())
		_, _ = io.WriteString(w, id.String())
	})), ErrorLog: HTTPErrorLog(quiet(), metrics)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	cfg, err := CAClientConfig(DirFiles(dir, RoleMaster).CA)
	if err != nil {
		t.Fatal(err)
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	get := func(c *http.Client, path, user, pass string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get(anon, "/state", "ops", "s3cret"); resp.StatusCode != 200 || body != "operator/ops" {
		t.Fatalf("credentials: %d %s", resp.StatusCode, body)
	}
	for _, c := range [][2]string{{"ops", "wrong"}, {"", ""}} {
		resp, _ := get(anon, "/state", c[0], c[1])
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Header.Values("WWW-Authenticate")) != 2 {
			t.Fatalf("%q: %d %v; want 401 with Basic and Bearer challenges", c, resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
		}
	}
	if resp, _ := get(anon, "/health", "ops", "wrong"); resp.StatusCode != 200 {
		t.Fatalf("/health with wrong credentials: %d; it stays open", resp.StatusCode)
	}
	if resp, body := get(HTTPClient(o, 5*time.Second), "/state", "ops", "s3cret"); resp.StatusCode != 200 || body != "operator/cert-ops" {
		t.Fatalf("certificate and credentials: %d %s; the certificate decides", resp.StatusCode, body)
	}
	if n, m := metrics.Refused("http", "bad_credentials"), metrics.Refused("http", "no_certificate"); n != 1 || m != 1 {
		t.Fatalf("refusals counted: bad credentials %v, no certificate %v", n, m)
	}
}
