package mesosapi

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRecordIORoundTrip(t *testing.T) {
	msgs := [][]byte{[]byte(`{"type":"HEARTBEAT"}`), {}, bytes.Repeat([]byte{0, '\n', '9'}, 1000)}
	var stream []byte
	for _, m := range msgs {
		stream = AppendRecord(stream, m)
	}
	if !bytes.HasPrefix(stream, []byte("20\n{\"type\":\"HEARTBEAT\"}0\n3000\n")) {
		t.Fatalf("framing: %q", stream[:40])
	}
	r := NewRecordReader(bytes.NewReader(stream), 1<<20)
	for i, want := range msgs {
		got, err := r.Next()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("record %d: %q, %v; want %q", i, got, err, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v; want io.EOF", err)
	}
}

func TestRecordIOMalformed(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"5\nabc", "unexpected EOF"},
		{"12", "unexpected EOF"},
		{"x\n", "want decimal digits"},
		{"\nabc", "empty length prefix"},
		{"-1\n", "want decimal digits"},
		{strings.Repeat("0", 20) + "\n", "longer than 19 digits"},
		{"1025\n", "larger than allowed"},
		{"99999999999999999\n", "larger than allowed"},
	} {
		_, err := NewRecordReader(strings.NewReader(tc.in), 1024).Next()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want an error with %q", tc.in, err, tc.want)
		}
	}
	if _, err := NewRecordReader(strings.NewReader("2000\n"), 1024).Next(); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("too large: %v; want ErrRecordTooLarge", err)
	}
}

// FuzzRecordIO: the reader never panics nor allocates past its bound, and
// whatever it reads, written again, reads back the same.
func FuzzRecordIO(f *testing.F) {
	f.Add([]byte("20\n{\"type\":\"HEARTBEAT\"}0\n"))
	f.Add([]byte("3\nabc4\nab"))
	f.Add([]byte("99999999999999999999\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 4096
		r := NewRecordReader(bytes.NewReader(in), max)
		var recs [][]byte
		for {
			rec, err := r.Next()
			if err != nil {
				break
			}
			if len(rec) > max {
				t.Fatalf("a record of %d bytes past the bound %d", len(rec), max)
			}
			recs = append(recs, rec)
		}
		var out []byte
		for _, rec := range recs {
			out = AppendRecord(out, rec)
		}
		again := NewRecordReader(bytes.NewReader(out), max)
		for i, want := range recs {
			got, err := again.Next()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("record %d re-read as %q, %v; want %q", i, got, err, want)
			}
		}
		if _, err := again.Next(); err != io.EOF {
			t.Fatalf("re-read stream does not end cleanly: %v", err)
		}
	})
}
