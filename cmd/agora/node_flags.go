package main

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// flags is the node's flags by name, as set (defaults included), for
// Mesos' GET_FLAGS. Names are kong's: the name tag, or the field's name
// in kebab case; embedded groups (TLS) are walked.
func (c *nodeCmd) flags() map[string]string {
	out := map[string]string{}
	collectFlags(reflect.ValueOf(*c), out)
	return out
}

func collectFlags(v reflect.Value, out map[string]string) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if _, ok := f.Tag.Lookup("embed"); ok && f.Type.Kind() == reflect.Struct {
			collectFlags(v.Field(i), out)
			continue
		}
		name := f.Tag.Get("name")
		if name == "" {
			name = kebab(f.Name)
		}
		out[name] = fmt.Sprint(v.Field(i).Interface())
	}
}

// kebab is kong's flag name of a field: ExecutorRegistrationTimeout ->
// executor-registration-timeout, TLSCA -> tlsca.
func kebab(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1])) {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
