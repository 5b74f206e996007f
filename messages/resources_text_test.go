package messages

import (
	"errors"
	"strings"
	"testing"
)

func TestParseResources(t *testing.T) {
	rs, err := ParseResources("cpus:4; mem:8192;ports:[31000-32000,33000-33000];gpus(ml):1")
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatResources(rs); got != "cpus:4;mem:8192;ports:[31000-32000,33000-33000];gpus(ml):1" {
		t.Fatalf("round trip = %q", got)
	}
	if ScalarOf(rs, CPUs) != 4 || ScalarOf(rs, Mem) != 8192 {
		t.Fatalf("scalars wrong: %v", rs)
	}
}

func TestParseResourcesRejectsBadTokens(t *testing.T) {
	for _, text := range []string{
		"cpus", "cpus:x", "cpus:-1", "cpus:NaN", "mem:+Inf", ":4", "ports:[5-3]", "ports:[1-2",
		"gpus(ml:1", "ports:[a-b]",
	} {
		_, err := ParseResources("mem:1;" + text)
		if !errors.Is(err, ErrBadResource) {
			t.Errorf("%q: err = %v, want ErrBadResource", text, err)
			continue
		}
		if !strings.Contains(err.Error(), text) {
			t.Errorf("%q: error %q does not name the bad token", text, err)
		}
	}
}

func TestParseAttributes(t *testing.T) {
	as, err := ParseAttributes("zone:a;rack:r1;level:3")
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatAttributes(as); got != "level:3;rack:r1;zone:a" {
		t.Fatalf("got %q", got)
	}
	if _, ok := as[0].Value.(*Attribute_Scalar); !ok {
		t.Fatalf("level should be scalar: %v", as[0])
	}
	for _, bad := range []string{"rack", "rack:", ":r1", "rack:a;rack:b"} {
		if _, err := ParseAttributes(bad); !errors.Is(err, ErrBadAttribute) || !strings.Contains(err.Error(), strings.Split(bad, ";")[len(strings.Split(bad, ";"))-1]) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}
