package credentials

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestAuthenticateBasicAndBearer(t *testing.T) {
	s, err := Parse([]byte(`{"credentials": [{"principal": "ops", "secret": "opens-sesame"}, {"principal": "fw", "secret": "tok-42"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req := func(set func(*http.Request)) *http.Request {
		r, _ := http.NewRequest("GET", "https://m/state", nil)
		set(r)
		return r
	}
	for _, c := range []struct {
		name          string
		set           func(*http.Request)
		principal     string
		presented, ok bool
	}{
		{"none", func(*http.Request) {}, "", false, true},
		{"basic", func(r *http.Request) { r.SetBasicAuth("ops", "opens-sesame") }, "ops", true, true},
		{"basic, wrong secret", func(r *http.Request) { r.SetBasicAuth("ops", "tok-42") }, "", true, false},
		{"basic, unknown principal", func(r *http.Request) { r.SetBasicAuth("eve", "opens-sesame") }, "", true, false},
		{"basic, empty secret", func(r *http.Request) { r.SetBasicAuth("ops", "") }, "", true, false},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-42") }, "fw", true, true},
		{"bearer, lower case", func(r *http.Request) { r.Header.Set("Authorization", "bearer opens-sesame") }, "ops", true, true},
		{"bearer, wrong", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-43") }, "", true, false},
		{"bearer, empty", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, "", true, false},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, "", true, false},
	} {
		p, presented, err := s.Authenticate(req(c.set))
		if p != c.principal || presented != c.presented || (err == nil) != c.ok {
			t.Errorf("%s: %q %v %v; want %q %v ok=%v", c.name, p, presented, err, c.principal, c.presented, c.ok)
		}
		if err != nil && !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v; want ErrUnauthenticated", c.name, err)
		}
	}
}

func TestParseReadsMesosFormatsAndRefusesAmbiguity(t *testing.T) {
	s, err := Parse([]byte("# Mesos' text format\nops s1\n\nfw s2\n"))
	if err != nil || s.Len() != 2 {
		t.Fatalf("text format: %v, %d credentials", err, s.Len())
	}
	for name, text := range map[string]string{
		"empty":             ``,
		"no credentials":    `{"credentials": []}`,
		"unknown field":     `{"credentials": [{"principal": "a", "secret": "s", "role": "x"}]}`,
		"empty secret":      `{"credentials": [{"principal": "a", "secret": ""}]}`,
		"bad principal":     `{"credentials": [{"principal": "a b/c", "secret": "s"}]}`,
		"twice a principal": `{"credentials": [{"principal": "a", "secret": "s"}, {"principal": "a", "secret": "t"}]}`,
		"shared secret":     `{"credentials": [{"principal": "a", "secret": "s"}, {"principal": "b", "secret": "s"}]}`,
		"text, three words": "a s extra\n",
	} {
		if _, err := Parse([]byte(text)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v; want ErrInvalid", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(path, []byte(`{"credentials": [{"principal": "ops", "secret": "x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadFile(path); err != nil || s.Len() != 1 {
		t.Fatalf("LoadFile: %v", err)
	}
}
