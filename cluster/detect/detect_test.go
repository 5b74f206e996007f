package detect

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]Spec{
		"127.0.0.1:5055":                {Static: "127.0.0.1:5055"},
		"consul://127.0.0.1:8500/prod":  {Consul: "127.0.0.1:8500", Cluster: "prod"},
		"consul://127.0.0.1:8500/prod/": {Consul: "127.0.0.1:8500", Cluster: "prod"},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if err == nil && got.String() != "consul://127.0.0.1:8500/prod" && got.Static == "" {
			t.Errorf("String() = %q", got.String())
		}
	}
	for _, bad := range []string{"", "localhost", "consul://127.0.0.1:8500", "consul://127.0.0.1:8500/a/b", "http://x:1/c", "consul:///c"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
