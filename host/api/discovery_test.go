package api

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/discovery"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/sdk"
)

type fixedDiscovery struct{ res *discovery.Result }

func (f fixedDiscovery) Discover(context.Context, discovery.Request) (*discovery.Result, error) {
	return f.res, nil
}
func (f fixedDiscovery) Last() *discovery.Result { return f.res }

// connections connects the addresses in ok and refuses the others.
type connections struct{ ok map[string]bool }

func (c connections) Connect(_ context.Context, address string) (connector.Cluster, bool, error) {
	if !c.ok[address] {
		return connector.Cluster{}, false, &connector.DialError{Address: address, Err: errors.New("connection refused")}
	}
	return connector.Cluster{ID: "c-" + address[len(address)-4:], Address: address, State: "connected"}, true, nil
}
func (connections) Disconnect(string) (connector.Cluster, error) { return connector.Cluster{}, nil }
func (connections) DisconnectAll() []connector.Cluster           { return nil }
func (connections) Clusters() []connector.Cluster                { return nil }

// A discover-and-connect round whose every connection fails says so with
// success false and the error, and still returns what it discovered; one
// connection out of two is a success that names the failure.
func TestDiscoverExternalReportsFailedConnects(t *testing.T) {
	res := &discovery.Result{ID: "r1", Clusters: []discovery.Cluster{
		{ID: "a", DashboardURL: "http://10.0.0.1:8265", Status: "active", Sources: []string{"portscan"}},
		{ID: "b", GCSAddress: "10.0.0.2:6379", Status: "active", Sources: []string{"tmpdir"}},
		{ID: "old", SessionDir: "/tmp/ray/session_x", Status: "inactive", Sources: []string{"tmpdir"}},
	}}
	for _, tc := range []struct {
		ok      map[string]bool
		success bool
		conn    string
	}{
		{ok: nil, success: false},
		{ok: map[string]bool{"10.0.0.2:6379": true}, success: true, conn: "10.0.0.2:6379"},
	} {
		f := newFileServer(t, func(d *Deps) {
			st, err := store.Open(filepath.Join(t.TempDir(), "castray.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			d.Registry = registry.New(st, func(string, any) {})
			d.Discovery, d.Connections = fixedDiscovery{res}, connections{tc.ok}
		})
		r := f.do(t, "POST", "/api/cluster/discover-external", nil)
		m := r.json(t)
		errMsg, _ := m["error"].(string)
		// The stale session is counted, not listed (include_stale lists it).
		if r.code != 200 || m["success"] != tc.success || len(m["discovered_clusters"].([]any)) != 2 || m["stale_hidden"] != 1.0 || errMsg == "" {
			t.Errorf("ok=%v: %d %s", tc.ok, r.code, r.body)
		}
		if got, _ := m["connected_cluster"].(string); got != tc.conn {
			t.Errorf("ok=%v: connected_cluster %q, want %q", tc.ok, got, tc.conn)
		}
	}
}

// include_stale (body or query) lists the inactive clusters the default
// leaves out, for a round and for the last one.
func TestDiscoverIncludeStale(t *testing.T) {
	res := &discovery.Result{ID: "r1", Clusters: []discovery.Cluster{
		{ID: "live", DashboardURL: "http://10.0.0.1:8265", Status: "active"},
		{ID: "old1", Status: "inactive"}, {ID: "old2", Status: "inactive"},
	}}
	f := newFileServer(t, func(d *Deps) {
		d.Discovery, d.Connections = fixedDiscovery{res}, connections{}
	})
	for _, tc := range []struct {
		method, path, body string
		listed, hidden     int
	}{
		{"POST", "/api/cluster/discover-external", `{"connect": false}`, 1, 2},
		{"POST", "/api/cluster/discover-external", `{"connect": false, "include_stale": true}`, 3, 0},
		{"POST", "/api/cluster/discover-external?include_stale=1&connect=0", ``, 3, 0},
		{"GET", "/api/cluster/discovery", ``, 1, 2},
		{"GET", "/api/cluster/discovery?include_stale=true", ``, 3, 0},
	} {
		var body []byte
		var h []string
		if tc.body != "" {
			body, h = []byte(tc.body), []string{"Content-Type", "application/json"}
		}
		r := f.do(t, tc.method, tc.path, body, h...)
		m := r.json(t)
		inner := m["discovery"].(map[string]any)["clusters"].([]any)
		if r.code != 200 || len(m["discovered_clusters"].([]any)) != tc.listed || len(inner) != tc.listed || m["stale_hidden"] != float64(tc.hidden) {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, r.code, r.body)
		}
	}
	if len(res.Clusters) != 3 {
		t.Errorf("the round's own result lost clusters: %d", len(res.Clusters))
	}
	if r := f.do(t, "GET", "/api/cluster/discovery?include_stale=maybe", nil); r.code != 400 {
		t.Errorf("include_stale=maybe: %d", r.code)
	}
}

// A scope the manager refuses is a 400 when malformed and a 403 when
// outside the allowlist, with the manager's words.
func TestDiscoverExternalScopeErrors(t *testing.T) {
	allow, err := discovery.ParseScope("external_cluster.scan_allow", []string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFileServer(t, func(d *Deps) {
		d.Discovery = discovery.New(discovery.Options{Plugins: noDiscoverers{}, Scope: allow})
	})
	for body, want := range map[string]struct {
		code int
		says string
	}{
		`{"hosts": ["999.1.1.1"]}`:         {400, `"999.1.1.1" is not an IP address`},
		`{"ports": [70000]}`:               {400, "70000 is not a port"},
		`{"hosts": ["10.0.0.1"]}`:          {403, "10.0.0.1 is outside external_cluster.scan_allow"},
		`{"hosts": ["127.0.0.1"]}`:         {503, "no discovery plugin"},
		`{"hosts": ["127.0.0.1/8"]}`:       {400, "did you mean 127.0.0.0/8"},
		`{"hosts": ["a"], "HOSTS": ["b"]}`: {400, `"HOSTS"`},
	} {
		r := f.do(t, "POST", "/api/cluster/discover-external", []byte(body), "Content-Type", "application/json")
		if msg := r.errorMessage(t); r.code != want.code || !strings.Contains(msg, want.says) {
			t.Errorf("%s: %d %q, want %d saying %q", body, r.code, msg, want.code, want.says)
		}
	}
}

// noDiscoverers gives a discovery manager no plugins.
type noDiscoverers struct{}

func (noDiscoverers) Discoverers() map[string]sdk.Discoverer { return nil }
