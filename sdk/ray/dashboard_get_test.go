package ray

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGetAnswers: Get returns every status as an Answer; Answer.Err gives
// CastRay's errors; the token goes only where asked, never into errors.
func TestGetAnswers(t *testing.T) {
	ctx := context.Background()
	f, srv := newFakeDashboard(t, testToken)
	f.set("/big", []byte(strings.Repeat("x", 100)))

	a, err := Get(ctx, nil, srv.URL+"/api/version", GetOptions{})
	if err != nil || a.Status != 401 || string(a.Body) != "Unauthorized: Missing authentication token" {
		t.Fatalf("no token: %+v %v", a, err)
	}
	if err := a.Err("GET /api/version", false); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "no token was given") {
		t.Fatalf("401 Err: %v", err)
	}
	a, err = Get(ctx, nil, srv.URL+"/api/version", GetOptions{Token: "wrong"})
	if err != nil || a.Status != 403 || !errors.Is(a.Err("v", true), ErrAuth) || strings.Contains(a.Err("v", true).Error(), "wrong") {
		t.Fatalf("wrong token: %+v %v", a, err)
	}
	a, err = Get(ctx, nil, srv.URL+"/api/version", GetOptions{Token: testToken, UserAgent: "castray-test/1"})
	if err != nil || a.Status != 200 || a.Err("v", true) != nil {
		t.Fatalf("right token: %+v %v", a, err)
	}
	if v, err := DecodeVersion(a.Body); err != nil || v.RayVersion != "2.60.0" {
		t.Fatalf("body: %+v %v", v, err)
	}
	a, err = Get(ctx, nil, srv.URL+"/nowhere", GetOptions{Token: testToken})
	if err != nil || !errors.Is(a.Err("GET /nowhere", true), ErrNotFound) {
		t.Fatalf("404: %+v %v", a, err)
	}
	// A 200 body over the limit is an error, with the body cut.
	a, err = Get(ctx, nil, srv.URL+"/big", GetOptions{Token: testToken, Limit: 10})
	if err == nil || a.Status != 200 || len(a.Body) != 10 {
		t.Fatalf("over the limit: %d bytes, %v", len(a.Body), err)
	}
	if _, err := Get(ctx, nil, srv.URL+"/big", GetOptions{Token: testToken, Limit: 100}); err != nil {
		t.Fatalf("at the limit: %v", err)
	}

	f.mu.Lock()
	uas := f.uas
	f.mu.Unlock()
	if uas[0] != "castray/"+Version || uas[2] != "castray-test/1" {
		t.Fatalf("User-Agents %q", uas)
	}
}

// TestGetErrorBody: an answer other than 200 is a *StatusError with Ray's
// msg; a long one keeps its first 64 KiB, without an error.
func TestGetErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v0/nodes" { // Ray's answer to limit=100000
			w.WriteHeader(400)
			_, _ = w.Write(capture(t, "api_v0_nodes_limit_too_high.body"))
			return
		}
		w.WriteHeader(500)
		_, _ = w.Write([]byte(strings.Repeat("e", errorBody+5)))
	}))
	t.Cleanup(srv.Close)
	var se *StatusError
	a, err := Get(context.Background(), nil, srv.URL+"/api/v0/nodes", GetOptions{})
	if err != nil || a.Status != 400 {
		t.Fatalf("400: %+v %v", a, err)
	}
	if err := a.Err("GET /api/v0/nodes", false); !errors.As(err, &se) || se.Code != 400 || !strings.HasPrefix(se.Message, "Given limit 100000 exceeds") {
		t.Fatalf("400 Err: %v", err)
	}
	a, err = Get(context.Background(), nil, srv.URL, GetOptions{Limit: 1 << 30})
	if err != nil || a.Status != 500 || len(a.Body) != errorBody {
		t.Fatalf("%d, %d bytes, %v", a.Status, len(a.Body), err)
	}
	if err := a.Err("GET x", false); !errors.As(err, &se) || se.Code != 500 || len(se.Message) > 200 {
		t.Fatalf("Err: %v", err)
	}
}

// TestGetNoAnswer: a refused connection and a silent server are told
// apart, and neither error names the URL (with its query) or the token.
func TestGetNoAnswer(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	_, err = Get(ctx, nil, "http://"+closed+"/x?secret=q", GetOptions{Token: testToken})
	if !IsRefused(err) || IsTimeout(err) || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), testToken) {
		t.Fatalf("closed port: %v", err)
	}
	silent := silentListener(t)
	_, err = Get(ctx, nil, "http://"+silent+"/x?secret=q", GetOptions{Token: testToken, Timeout: 50 * time.Millisecond})
	if !IsTimeout(err) || IsRefused(err) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("silent port: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err = Get(cctx, nil, "http://"+silent+"/", GetOptions{}); !errors.Is(err, context.Canceled) || IsTimeout(err) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestGetNoRedirect: without a client of the caller's, a redirect is the
// answer, not followed (the token must not travel to another server).
func TestGetNoRedirect(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("followed the redirect to %s", r.URL)
	}))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/api/version", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	a, err := Get(context.Background(), nil, srv.URL+"/api/version", GetOptions{Token: testToken})
	if err != nil || a.Status != http.StatusFound {
		t.Fatalf("%+v %v", a, err)
	}
}
