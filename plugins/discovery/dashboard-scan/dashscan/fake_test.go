package dashscan

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// live reads a capture from a real Ray 2.60.0 head (testdata/README.md).
// Captures saved as "HTTP <status>\n<body>" are returned without that line.
func live(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "live-2.60.0", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(string(b), "HTTP ") {
		if _, rest, ok := strings.Cut(string(b), "\n"); ok {
			return []byte(rest)
		}
	}
	return b
}

// headB is what the captures of head B say (testdata/README.md).
var headB = struct {
	session, gcs, clusterID, nodeID, sessionDir string
}{
	session:    "session_2026-11-25_20-22-06_905902_14150",
	gcs:        "192.0.2.2:34703",
	clusterID:  "e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3",
	nodeID:     "e59b13fb0cfc4fa97bac9103d45398031ecfa5f8d057f2082de66e89",
	sessionDir: "/tmp/crt-1489565246/session_2026-11-25_20-22-06_905902_14150",
}

// fakeRay replays the live captures of head B the way a Ray 2.60.0
// dashboard serves them: in token mode every path but /, the auth mode and
// the GCS health check answers 401 without a token and 403 with a wrong
// one (http_auth_matrix.txt), unknown paths included
// (not_found_without_token.txt); "disabled" needs no token; "old" is a Ray
// before 2.52 (no /api/authentication_mode, no auth).
type fakeRay struct {
	t       testing.TB
	mode    string
	token   string
	version []byte // /api/version body; default head B's
	v0Fail  bool   // the State API answers 500
	srv     *httptest.Server

	mu   sync.Mutex
	seen []seenReq
}

type seenReq struct {
	path, auth, ua string
}

func newFakeRay(t testing.TB, mode, token string) *fakeRay {
	f := &fakeRay{t: t, mode: mode, token: token}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRay) port() uint32 {
	_, p, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	n, _ := strconv.Atoi(p)
	return uint32(n)
}

func (f *fakeRay) requests() []seenReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenReq(nil), f.seen...)
}

func presentedToken(r *http.Request) string {
	for _, h := range []string{"Authorization", "X-Ray-Authorization"} {
		if v := r.Header.Get(h); strings.HasPrefix(v, "Bearer ") {
			return strings.TrimPrefix(v, "Bearer ")
		}
	}
	if c, err := r.Cookie("ray-authentication-token"); err == nil {
		return c.Value
	}
	return ""
}

func (f *fakeRay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, seenReq{path: r.URL.RequestURI(), auth: r.Header.Get("Authorization"), ua: r.UserAgent()})
	f.mu.Unlock()
	text := func(status int, body string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
	capture := func(name string) {
		b := live(f.t, name)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
	path := r.URL.Path
	open := path == "/" || path == "/api/authentication_mode" || path == "/api/gcs_healthz"
	if f.mode == "token" && !open {
		switch tok := presentedToken(r); {
		case tok == "":
			text(http.StatusUnauthorized, string(live(f.t, "not_found_without_token.txt"))) // "Unauthorized: Missing authentication token"
			return
		case tok != f.token:
			text(http.StatusForbidden, string(live(f.t, "api_version_403_with_bad_token.txt")))
			return
		}
	}
	switch {
	case path == "/api/authentication_mode" && f.mode != "old":
		if f.mode == "token" {
			capture("api_authentication_mode.json")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"authentication_mode": "` + f.mode + `"}`))
	case path == "/api/gcs_healthz":
		text(http.StatusOK, "success")
	case path == "/":
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(live(f.t, "root.txt"))
	case path == "/api/version":
		if f.version != nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(f.version)
			return
		}
		capture("api_ray_version.txt")
	case path == "/api/v0/nodes":
		if n, _ := strconv.Atoi(r.URL.Query().Get("limit")); n > 10000 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(live(f.t, "api_v0_nodes_limit_too_high.txt"))
			return
		}
		if f.v0Fail {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"result": false, "msg": "Failed to query nodes: timeout", "data": {}}`))
			return
		}
		capture("api_v0_nodes.txt")
	case path == "/api/cluster_status":
		if r.URL.Query().Get("format") == "1" {
			capture("api_cluster_status_busy_format1.txt")
			return
		}
		capture("api_cluster_status_busy.txt")
	case path == "/nodes" && r.URL.Query().Get("view") == "summary":
		capture("nodes_view_summary.txt")
	case path == "/nodes/"+headB.nodeID:
		capture("nodes_head_detail.txt")
	case path == "/cluster_id":
		capture("cluster_id.txt")
	default:
		text(http.StatusNotFound, "404: Not Found")
	}
}

// recorder is a DiscoverSink that keeps everything.
type recorder struct {
	mu    sync.Mutex
	cands []*sdk.ClusterCandidate
	notes []*sdk.DiscoverNote
	first time.Time // when the first candidate arrived
	// onCandidate, if set, runs after each candidate.
	onCandidate func()
}

func (r *recorder) Candidate(c *sdk.ClusterCandidate) error {
	r.mu.Lock()
	if r.first.IsZero() {
		r.first = time.Now()
	}
	r.cands = append(r.cands, c)
	r.mu.Unlock()
	if r.onCandidate != nil {
		r.onCandidate()
	}
	return nil
}

func (r *recorder) Note(n *sdk.DiscoverNote) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, n)
	return nil
}

func (r *recorder) notesText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, n := range r.notes {
		b.WriteString(n.GetLevel() + " " + n.GetTarget() + " " + n.GetMessage() + "\n")
	}
	return b.String()
}

// newTestDiscoverer returns a Discoverer that sees env instead of the
// process environment and an empty home directory, configured with cfg,
// served over the real gRPC path.
func newTestDiscoverer(t testing.TB, env map[string]string, home, cfg string) sdk.Discoverer {
	t.Helper()
	impl := New(nil)
	impl.getenv = func(k string) string { return env[k] }
	if home == "" {
		home = t.TempDir()
	}
	impl.homeDir = func() (string, error) { return home, nil }
	d := plugintest.Discovery(t, impl)
	if cfg != "" {
		errs, err := d.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg), ApiVersion: sdk.APIVersion})
		if err != nil || errs != nil {
			t.Fatalf("Configure(%s): %v %s", cfg, err, sdk.ConfigErrorsString(errs))
		}
	}
	return d
}

// discover runs one round over 127.0.0.1 and ports.
func discover(t testing.TB, d sdk.Discoverer, req *sdk.DiscoverRequest) (*recorder, *sdk.DiscoverSummary, time.Duration) {
	t.Helper()
	if req.Hosts == nil {
		req.Hosts = []string{"127.0.0.1"}
	}
	if req.TimeoutMs == 0 {
		req.TimeoutMs = 20000
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	rec := &recorder{}
	start := time.Now()
	sum, err := d.Discover(ctx, req, rec)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Discover: %v\nnotes:\n%s", err, rec.notesText())
	}
	return rec, sum, took
}
