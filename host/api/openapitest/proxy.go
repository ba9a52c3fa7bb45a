package openapitest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// Proxy starts a reverse proxy to target (a daemon's base URL) that checks
// with tr every answer it passes on for a path of the API (/api/..., /ws,
// /healthz, /metrics, and any other path the document lists); other paths
// (the web UI's files) pass unchecked. It is for clients a test does not
// drive request by request: the CLI binary, a browser. WebSocket upgrades
// and streamed answers pass through as they come. It returns the proxy's
// base URL and is closed when tb ends.
func Proxy(tb TB, target string, tr *Transport) string {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("proxy to %q: %v", target, err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = apiOnly{tr}
	rp.FlushInterval = -1
	srv := httptest.NewServer(rp)
	tb.Cleanup(func() {
		// A WebSocket still open (a client left running) must not hold
		// the test: Close waits for its handler.
		srv.CloseClientConnections()
		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
		}
	})
	return srv.URL
}

// apiOnly checks the answers for the API's paths and passes the others
// through unchecked.
type apiOnly struct{ tr *Transport }

func (a apiOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	p := req.URL.Path
	if strings.HasPrefix(p, "/api/") || p == "/ws" || p == "/healthz" || p == "/metrics" {
		return a.tr.RoundTrip(req)
	}
	if s, err := Load(); err == nil {
		if _, _, ok := s.Operation(req); ok {
			return a.tr.RoundTrip(req)
		}
	}
	base := a.tr.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}
