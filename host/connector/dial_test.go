package connector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/e2e/fakeray"
	"github.com/castray/castray/host/registry"
)

// guard bounds a wait that only a defect makes long.
const guard = 30 * time.Second

// Connecting by dashboard URL asks for everything the connection reads at
// once: the dashboard answers /api/version only after the summary view and
// the State API's node and actor tables were asked for (sequential reads
// would never get there), and the connect still reads everything right.
func TestDashboardDialAsksEverythingAtOnce(t *testing.T) {
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	srv := fakeray.Start(t, fakeray.Options{Nodes: 3, Actors: 4, Seed: 5})
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	asked := map[string]bool{}
	allAsked := make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/version" {
			select {
			case <-allAsked:
			case <-time.After(guard):
				mu.Lock()
				t.Errorf("/api/version: the other reads were not asked for beside it: %v", asked)
				mu.Unlock()
			}
		} else {
			mu.Lock()
			asked[r.URL.Path] = true
			if asked["/nodes"] && asked["/api/v0/nodes"] && asked["/api/v0/actors"] && !closed(allAsked) {
				close(allAsked)
			}
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	reg := registry.New(nil, nil)
	c := New(Options{Registry: reg, Dialer: NewRayDialer(time.Minute, "", nil), SyncInterval: time.Hour, ActorFilter: DefaultActorFilter})
	t.Cleanup(c.Shutdown)
	st, _, err := c.Connect(context.Background(), front.URL)
	if err != nil {
		t.Fatal(err)
	}
	if st.Via != "dashboard" || st.Nodes != 3 || st.SessionName != srv.SessionName() || st.ClusterID != srv.ClusterID() {
		t.Fatalf("connected %+v", st)
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// An http:// address that is no dashboard: the reads the dial started
// beside /api/version are cancelled, none left waiting. (/api/version
// answers 404 only once a read has arrived, so that there is one to cancel.)
func TestDashboardDialCancelsItsReadsForNoDashboard(t *testing.T) {
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	var mu sync.Mutex
	arrived, ended := 0, 0
	first := make(chan struct{})
	changed := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/version" {
			select {
			case <-first:
			case <-time.After(guard):
				t.Error("no read was asked for beside /api/version")
			}
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		arrived++
		if arrived == 1 {
			close(first)
		}
		mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-time.After(guard):
			t.Errorf("%s: still waiting after the dial failed", r.URL)
		}
		mu.Lock()
		ended++
		mu.Unlock()
		changed <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	r := &dialRun{d: NewRayDialer(time.Minute, "", nil).(*rayDialer)}
	if src, _ := r.dashboard(context.Background(), srv.URL); src != nil {
		t.Fatal("a 404 on /api/version is a dashboard")
	}
	if len(r.attempts) != 1 || r.attempts[0].OK {
		t.Fatalf("attempts %+v", r.attempts)
	}
	for {
		mu.Lock()
		done := arrived == ended
		mu.Unlock()
		if done {
			return
		}
		<-changed
	}
}
