package messages

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// Role names follow Mesos' rules (src/common/roles.cpp validate) per
// /-separated segment, plus Agora's length cap and charset.
func TestValidateRoleName(t *testing.T) {
	for _, tc := range []struct {
		role string
		ok   bool
	}{
		{"default", true},
		{"eng/ml", true},
		{"a.b_c~d-e", true},
		{"*", true},
		{strings.Repeat("a", MaxRoleNameLength), true},
		{strings.Repeat("a", MaxRoleNameLength+1), false},
		{"", false},
		{".", false},
		{"..", false},
		{"x/../victim", false},
		{"x/./y", false},
		{"/x", false},
		{"x/", false},
		{"x//y", false},
		{"-x", false},
		{"x/-y", false},
		{"x y", false},
		{"x\ty", false},
		{"x\x00y", false},
		{"x\x7fy", false},
		{"é", false},
		{"eng/*", false},
		{"cpus(x)", false},
		{"a;b", false},
		{"a:b", false},
		{"a,b", false},
		{`a\b`, false},
	} {
		err := ValidateRoleName(tc.role)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateRoleName(%q) = %v, want ok=%v", tc.role, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadRole) {
			t.Errorf("ValidateRoleName(%q) = %v, want ErrBadRole", tc.role, err)
		}
	}
}

// IDs follow Mesos' validateID (src/common/validation.cpp).
func TestValidateID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"task-1", true},
		{"ünïcode ok", true},
		{strings.Repeat("x", MaxIDLength), true},
		{strings.Repeat("x", MaxIDLength+1), false},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{`a\b`, false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u0085b", false},
		{"\xff", false},
	} {
		err := ValidateID("task ID", tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}

func TestValidateHostname(t *testing.T) {
	for _, tc := range []struct {
		h  string
		ok bool
	}{
		{"agent-1.example.com", true},
		{"::1", true},
		{"", false},
		{strings.Repeat("a", MaxHostnameLength+1), false},
		{"a b", false},
		{"a/b", false},
		{"a\x00", false},
	} {
		if err := ValidateHostname(tc.h); (err == nil) != tc.ok {
			t.Errorf("ValidateHostname(%q) = %v, want ok=%v", tc.h, err, tc.ok)
		}
	}
}

// Amounts stay where milli-units in an int64 are exact: the 1e300,
// and two of 9e15 that wrapped to negative, are refused, the limit named.
func TestValidateResourcesBounds(t *testing.T) {
	r := func(name string, v float64) *Resource { return &Resource{Name: name, Scalar: v} }
	for _, tc := range []struct {
		name string
		rs   []*Resource
		want string // "" for valid
	}{
		{"at the bound", []*Resource{r(CPUs, MaxScalar)}, ""},
		{"1e300", []*Resource{r(CPUs, 1e300)}, "over the limit of 1e+11"},
		{"two of 9e15", []*Resource{r(CPUs, 9e15), r(CPUs, 9e15)}, "over the limit"},
		{"sum over the bound", []*Resource{r(Mem, 6e10), r(Mem, 6e10)}, "adds up to 1.2e+11"},
		{"revocable counts", []*Resource{r(CPUs, 6e10), {Name: CPUs, Scalar: 6e10, Revocable: true}}, "adds up to"},
		{"NaN", []*Resource{r(CPUs, math.NaN())}, "finite"},
		{"Inf", []*Resource{r(CPUs, math.Inf(1))}, "finite"},
		{"negative", []*Resource{r(CPUs, -1)}, "finite"},
		{"bad role", []*Resource{{Name: CPUs, Scalar: 1, Role: "x/../y"}}, "invalid role name"},
		{"bad name", []*Resource{r("c pus", 1)}, "resource name"},
		{"long name", []*Resource{r(strings.Repeat("c", MaxResourceNameLength+1), 1)}, "resource name"},
		{"too many ranges", []*Resource{{Name: Ports, Ranges: make([]*Range, MaxRanges+1)}}, "ranges, over the limit"},
	} {
		err := ValidateResources(tc.rs)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadResource)):
			t.Errorf("%s: %v, want an ErrBadResource with %q", tc.name, err, tc.want)
		}
	}
	many := make([]*Resource, MaxResourceEntries+1)
	for i := range many {
		many[i] = r("x", 1)
	}
	if err := ValidateResources(many); err == nil {
		t.Errorf("%d entries accepted", len(many))
	}
	if _, err := ParseResources("cpus:6e10;cpus:6e10"); err == nil || !strings.Contains(err.Error(), "adds up to") {
		t.Errorf("ParseResources(cpus:6e10;cpus:6e10) = %v, want the sum refused", err)
	}
	if _, err := ParseResources("cpus:1e300"); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("ParseResources(cpus:1e300) = %v, want the limit", err)
	}
}

func TestValidateTaskInfo(t *testing.T) {
	ok := func() *TaskInfo {
		return &TaskInfo{TaskId: &TaskID{Value: "t1"}, Command: &CommandInfo{Value: "true"}}
	}
	if err := ValidateTaskInfo(ok()); err != nil {
		t.Fatalf("valid task refused: %v", err)
	}
	for name, change := range map[string]func(*TaskInfo){
		"no ID":           func(t *TaskInfo) { t.TaskId = nil },
		"slash in ID":     func(t *TaskInfo) { t.TaskId.Value = "../x" },
		"NUL in ID":       func(t *TaskInfo) { t.TaskId.Value = "a\x00" },
		"many labels":     func(t *TaskInfo) { t.Labels = manyStrings(MaxLabels + 1) },
		"big label":       func(t *TaskInfo) { t.Labels = map[string]string{"k": strings.Repeat("v", MaxLabelValue+1)} },
		"many args":       func(t *TaskInfo) { t.Command.Arguments = make([]string, MaxArguments+1) },
		"big command":     func(t *TaskInfo) { t.Command.Value = strings.Repeat("x", MaxCommandBytes+1) },
		"many env":        func(t *TaskInfo) { t.Command.Environment = manyStrings(MaxEnvironment + 1) },
		"env name with =": func(t *TaskInfo) { t.Command.Environment = map[string]string{"A=B": "x"} },
		"executor ID":     func(t *TaskInfo) { t.Command = nil; t.Executor = &ExecutorInfo{ExecutorId: &ExecutorID{Value: "a/b"}} },
		"executor 1e300": func(t *TaskInfo) {
			t.Command = nil
			t.Executor = &ExecutorInfo{ExecutorId: &ExecutorID{Value: "e"}, Resources: []*Resource{{Name: CPUs, Scalar: 1e300}}}
		},
	} {
		task := ok()
		change(task)
		if err := ValidateTaskInfo(task); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func manyStrings(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[strings.Repeat("k", i%200+1)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))] = "v"
	}
	return m
}
