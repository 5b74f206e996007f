package messages

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Well-known resource names. Scalars are cpus (cores), mem and disk (MiB)
// and gpus; ports are ranges.
const (
	CPUs  = "cpus"
	Mem   = "mem"
	Disk  = "disk"
	GPUs  = "gpus"
	Ports = "ports"
)

// ErrBadResource is wrapped by every resource parse or validation error.
var ErrBadResource = errors.New("invalid resource")

// ErrBadAttribute is wrapped by every attribute parse error.
var ErrBadAttribute = errors.New("invalid attribute")

// ParseResources parses Mesos' text syntax: `;`-separated tokens of the form
// `name:value` or `name(role):value`, where value is a number or a list of
// ranges such as `[31000-32000,33000-33010]`. The error names the bad token.
func ParseResources(text string) ([]*Resource, error) {
	var out []*Resource
	for _, token := range strings.Split(text, ";") {
		token = strings.TrimSpace(token)
		if token == "" {
			continue
		}
		r, err := parseResourceToken(token)
		if err != nil {
			return nil, err
		}
		if err := ValidateResources([]*Resource{r}); err != nil {
			return nil, fmt.Errorf("token %q: %w", token, err)
		}
		out = append(out, r)
	}
	// What each token passed, the whole must too: the entry count, and
	// sums of one name (cpus:6e10;cpus:6e10).
	if err := ValidateResources(out); err != nil {
		return nil, err
	}
	return out, nil
}

func parseResourceToken(token string) (*Resource, error) {
	name, value, ok := strings.Cut(token, ":")
	if !ok {
		return nil, fmt.Errorf("%w: token %q: want name:value, for example cpus:4", ErrBadResource, token)
	}
	name = strings.TrimSpace(name)
	value = strings.TrimSpace(value)
	r := &Resource{Name: name}
	if open := strings.IndexByte(name, '('); open >= 0 {
		if !strings.HasSuffix(name, ")") {
			return nil, fmt.Errorf("%w: token %q: role must be written name(role)", ErrBadResource, token)
		}
		r.Name, r.Role = name[:open], name[open+1:len(name)-1]
	}
	if r.Name == "" {
		return nil, fmt.Errorf("%w: token %q: empty name", ErrBadResource, token)
	}
	if strings.HasPrefix(value, "[") {
		ranges, err := parseRanges(value)
		if err != nil {
			return nil, fmt.Errorf("%w: token %q: %v", ErrBadResource, token, err)
		}
		r.Ranges = ranges
		return r, nil
	}
	f, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: token %q: value %q is neither a number nor [begin-end] ranges", ErrBadResource, token, value)
	}
	r.Scalar = f
	return r, nil
}

func parseRanges(value string) ([]*Range, error) {
	if !strings.HasSuffix(value, "]") {
		return nil, fmt.Errorf("ranges %q must end with ]", value)
	}
	var out []*Range
	for _, part := range strings.Split(value[1:len(value)-1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		b, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		e, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("range %q is not begin-end with non-negative integers", part)
		}
		out = append(out, &Range{Begin: b, End: e})
	}
	return out, nil
}

// ValidateResources rejects empty names, negative, NaN or infinite scalars,
// ranges whose begin exceeds their end, and a resource that is both scalar
// and ranges.
func ValidateResources(rs []*Resource) error {
	if len(rs) > MaxResourceEntries {
		return fmt.Errorf("%w: %d entries, over the limit of %d", ErrBadResource, len(rs), MaxResourceEntries)
	}
	for i, r := range rs {
		if r == nil {
			return fmt.Errorf("%w: nil resource", ErrBadResource)
		}
		if err := validateResourceName(r.Name); err != nil {
			return err
		}
		if math.IsNaN(r.Scalar) || math.IsInf(r.Scalar, 0) || r.Scalar < 0 {
			return fmt.Errorf("%w: %s is %v; a quantity must be a finite number >= 0", ErrBadResource, r.Name, r.Scalar)
		}
		if r.Scalar > MaxScalar {
			return fmt.Errorf("%w: %s is %g, over the limit of %g (messages.MaxScalar, where fixed-point sums stay exact)", ErrBadResource, r.Name, r.Scalar, float64(MaxScalar))
		}
		if r.Role != "" && r.Role != "*" {
			if err := ValidateRoleName(r.Role); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrBadResource, r.Name, err)
			}
		}
		// Mesos: "Only persistent volumes can be shared"; a mode is how a
		// task mounts a volume, so read-only names one too.
		if r.Shared && !IsVolume(r) {
			return fmt.Errorf("%w: %s is marked shared, but only persistent volumes (disk with a persistence id) can be shared", ErrBadResource, r.Name)
		}
		if r.GetDisk().GetReadOnly() && !IsVolume(r) {
			return fmt.Errorf("%w: %s is marked read-only, but only a persistent volume (disk with a persistence id) is mounted read-only", ErrBadResource, r.Name)
		}
		if len(r.Ranges) > 0 && r.Scalar != 0 {
			return fmt.Errorf("%w: %s has both a scalar and ranges", ErrBadResource, r.Name)
		}
		if len(r.Ranges) > MaxRanges {
			return fmt.Errorf("%w: %s has %d ranges, over the limit of %d", ErrBadResource, r.Name, len(r.Ranges), MaxRanges)
		}
		for _, rg := range r.Ranges {
			if rg == nil || rg.Begin > rg.End {
				return fmt.Errorf("%w: %s has a range whose begin exceeds its end", ErrBadResource, r.Name)
			}
		}
		// The bound holds for what the list adds up to, not only for each
		// entry: two entries of 9e15 sum past the int64 range.
		sum := r.Scalar
		for _, o := range rs[:i] {
			if o.Name == r.Name {
				sum += o.Scalar
			}
		}
		if sum > MaxScalar {
			return fmt.Errorf("%w: %s adds up to %g, over the limit of %g (messages.MaxScalar, where fixed-point sums stay exact)", ErrBadResource, r.Name, sum, float64(MaxScalar))
		}
	}
	return nil
}

// FormatResources prints resources in the syntax ParseResources reads.
func FormatResources(rs []*Resource) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		name := r.Name
		if r.Role != "" {
			name += "(" + r.Role + ")"
		}
		if len(r.Ranges) > 0 {
			rgs := make([]string, len(r.Ranges))
			for i, rg := range r.Ranges {
				rgs[i] = fmt.Sprintf("%d-%d", rg.Begin, rg.End)
			}
			parts = append(parts, name+":["+strings.Join(rgs, ",")+"]")
			continue
		}
		parts = append(parts, name+":"+strconv.FormatFloat(r.Scalar, 'f', -1, 64))
	}
	return strings.Join(parts, ";")
}

// ScalarOf sums the named scalar over rs.
func ScalarOf(rs []*Resource, name string) float64 {
	total := 0.0
	for _, r := range rs {
		if r.Name == name {
			total += r.Scalar
		}
	}
	return total
}

// ParseAttributes parses `;`-separated `name:value` pairs such as
// `rack:r1;zone:a`. A value that is a number becomes a scalar attribute.
func ParseAttributes(text string) ([]*Attribute, error) {
	var out []*Attribute
	seen := map[string]bool{}
	for _, token := range strings.Split(text, ";") {
		token = strings.TrimSpace(token)
		if token == "" {
			continue
		}
		name, value, ok := strings.Cut(token, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("%w: token %q: want name:value, for example rack:r1", ErrBadAttribute, token)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: token %q: attribute %s given twice", ErrBadAttribute, token, name)
		}
		seen[name] = true
		a := &Attribute{Name: name}
		if f, err := strconv.ParseFloat(value, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			a.Value = &Attribute_Scalar{Scalar: f}
		} else {
			a.Value = &Attribute_Text{Text: value}
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// AttributeText returns an attribute's value as text (scalars printed
// shortest), the form constraints compare against.
func AttributeText(a *Attribute) string {
	switch v := a.GetValue().(type) {
	case *Attribute_Text:
		return v.Text
	case *Attribute_Scalar:
		return strconv.FormatFloat(v.Scalar, 'f', -1, 64)
	}
	return ""
}

// FormatAttributes prints attributes in the syntax ParseAttributes reads.
func FormatAttributes(as []*Attribute) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		parts = append(parts, a.Name+":"+AttributeText(a))
	}
	return strings.Join(parts, ";")
}

// InBaseUnit is an amount of resource name in its base unit, and the
// unit's name, for metrics: cpus in cores, mem and disk (MB in resources,
// as in Mesos) in bytes, anything else a count.
func InBaseUnit(name string, v float64) (float64, string) {
	switch name {
	case CPUs:
		return v, "core"
	case Mem, Disk:
		return v * (1 << 20), "byte"
	}
	return v, "integer"
}
