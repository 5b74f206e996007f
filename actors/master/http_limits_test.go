package master

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
)

// cutBody is a body that ends early, as one a stalled client's read
// timeout cuts: some bytes, then an error.
type cutBody struct{ r io.Reader }

func (b *cutBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (*cutBody) Close() error { return nil }

// A role change applies only from a body read whole: one cut short, too
// large, or naming a malformed role reaches the master not at all; the
// master's refusals carry their code and HTTP status.
func TestRoleChangesNeedAWholeBody(t *testing.T) {
	var applied []*messages.UpdateRole
	update := func(_ context.Context, u *messages.UpdateRole) (*messages.RoleConfig, error) {
		if u.GetRole() == "full" {
			return nil, &Refused{Code: messages.Error_LIMIT_EXCEEDED, Message: "too many roles (--max-roles 1)"}
		}
		applied = append(applied, u)
		return &messages.RoleConfig{}, nil
	}
	h := HTTPHandler(&Publisher{}, prometheus.NewRegistry(), update, nil, nil, nil)
	do := func(path string, body io.ReadCloser) (int, string) {
		req := httptest.NewRequest(http.MethodPut, path, body)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	if code, text := do("/weights/eng", &cutBody{strings.NewReader("7")}); code != http.StatusBadRequest || !strings.Contains(text, "nothing applied") {
		t.Errorf("cut weight: %d %q", code, text)
	}
	if code, _ := do("/quota/eng", &cutBody{strings.NewReader(`{"guarantee": "cpus:1"`)}); code != http.StatusBadRequest {
		t.Errorf("cut quota: %d", code)
	}
	if code, _ := do("/weights/eng", io.NopCloser(strings.NewReader(strings.Repeat("1", 2<<10)))); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 KiB weight: %d; want 413", code)
	}
	if code, text := do("/weights/x%2F..%2Fvictim", io.NopCloser(strings.NewReader("7"))); code != http.StatusBadRequest || !strings.Contains(text, "INVALID_ARGUMENT") {
		t.Errorf("x/../victim: %d %q", code, text)
	}
	if code, text := do("/quota/eng", io.NopCloser(strings.NewReader(`{"guarantee": "cpus:1e300"}`))); code != http.StatusBadRequest || !strings.Contains(text, "over the limit") {
		t.Errorf("quota 1e300: %d %q", code, text)
	}
	if len(applied) != 0 {
		t.Fatalf("applied: %v", applied)
	}
	if code, text := do("/weights/full", io.NopCloser(strings.NewReader("2"))); code != http.StatusTooManyRequests || !strings.HasPrefix(text, "LIMIT_EXCEEDED: ") {
		t.Errorf("over a limit: %d %q; want 429 LIMIT_EXCEEDED", code, text)
	}
	if code, _ := do("/weights/eng", io.NopCloser(strings.NewReader("7"))); code != http.StatusOK || len(applied) != 1 || applied[0].GetWeight() != 7 {
		t.Errorf("a whole body: %d, applied %v", code, applied)
	}
}
