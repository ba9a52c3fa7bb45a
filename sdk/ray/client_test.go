package ray

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestDashboardTokenMatrix(t *testing.T) {
	ctx := context.Background()
	f, srv := newFakeDashboard(t, testToken)
	for _, tc := range []struct {
		tok  string
		want string // "" = OK
	}{{testToken, ""}, {"", "401"}, {"wrong", "403"}} {
		d, err := NewDashboard(srv.URL, tc.tok, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := d.AuthMode(ctx); err != nil || m != "token" {
			t.Errorf("AuthMode = %q, %v", m, err)
		}
		_, err = d.Version(ctx)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("token %q: %v", tc.tok, err)
		case tc.want != "" && (!errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("token %q: %v, want ErrAuth %s", tc.tok, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Fatal("token in error")
		}
	}
	for _, ua := range f.uas {
		if !strings.HasPrefix(ua, "castray/") {
			t.Errorf("User-Agent %q", ua)
		}
	}
}

func TestDashboardReplay(t *testing.T) {
	ctx := context.Background()
	f, srv := newFakeDashboard(t, testToken)
	d, _ := NewDashboard(srv.URL+"/", testToken, 5*time.Second)
	info, err := d.Version(ctx)
	if err != nil || info.RayVersion != "2.60.0" || info.SessionName != "session_2026-11-25_20-23-23_346120_17941" {
		t.Errorf("Version = %+v, %v", info, err)
	}
	if id, err := d.ClusterID(ctx); err != nil || id != "e43c9663ceb15355d5fcddc4a606dbc3bd2d61a710fc417e78f03ca3" {
		t.Errorf("ClusterID = %q, %v", id, err)
	}
	nodes, err := d.Nodes(ctx)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
	n := nodes[0]
	if n.NodeID != "a1fd542f430d45f8326ef0db2840ef93f1b525b5ebaabee5e9d8d407" || !n.IsHead || n.State != "ALIVE" || n.Address != "192.0.2.2" ||
		n.ResourcesTotal["CPU"] != 1 || n.ResourcesTotal["object_store_memory"] != 7410012979 || n.StartTimeMs != 1795638205990 ||
		n.Labels["ray.io/node-id"] != n.NodeID || n.NodeName != "192.0.2.2" {
		t.Errorf("node = %+v", n)
	}
	sum, err := d.NodesSummary(ctx)
	if err != nil || len(sum) != 1 {
		t.Fatalf("NodesSummary = %+v, %v", sum, err)
	}
	s := sum[0]
	if s.NodeID != n.NodeID || s.ResourcesTotal["object_store_memory"] != 7410012979 || s.ResourcesTotal["node:__internal_head__"] != 1 ||
		s.ResourcesAvailable["CPU"] != 1 || s.ResourcesAvailable["memory"] != 17290030285 || s.StartTimeMs != 1795638205990 ||
		s.Hostname != "vm" || s.NodeManagerPort != 39077 {
		t.Errorf("summary node = %+v", s)
	}
	if a, err := d.GCSAddress(ctx); err != nil || a != "192.0.2.2:40519" {
		t.Errorf("GCSAddress = %q, %v", a, err)
	}
	// The head raylet's command line also names the cluster and session:
	// on older Rays the dashboard's only word on either.
	if h, err := d.HeadFacts(ctx); err != nil || len(h.ClusterID) != 56 || !strings.HasPrefix(h.SessionName, "session_") || h.GCSAddress != "192.0.2.2:40519" {
		t.Errorf("HeadFacts = %+v, %v", h, err)
	}
	actors, err := d.Actors(ctx)
	if err != nil || len(actors) != 1 {
		t.Fatalf("Actors = %+v, %v", actors, err)
	}
	if a := actors[0]; a.Name != "castray-probe" || a.ClassName != "CastrayProbe" || a.Namespace != "castray" || a.PID == 0 || a.JobID != "01000000" || a.RequiredResources["CPU"] != 1 || len(a.NodeID) != 56 {
		t.Errorf("actor = %+v", a)
	}
	// The alive filter is sent as repeated filter_* parameters.
	var q string
	for _, u := range f.seen {
		if strings.HasPrefix(u, "/api/v0/actors?") {
			q = u
		}
	}
	if !strings.Contains(q, "filter_keys=state") || !strings.Contains(q, "filter_predicates=%3D") || !strings.Contains(q, "filter_values=ALIVE") || !strings.Contains(q, "limit=10000") {
		t.Errorf("actors query %q", q)
	}
}

func TestDashboardGCSAddressFromDetail(t *testing.T) {
	f, srv := newFakeDashboard(t, "")
	// A summary without the physical stats (cmdline) yet: fall back to /nodes/<id>.
	f.set("/nodes?view=summary", []byte(`{"result": true, "msg": "", "data": {"summary": [{"raylet": {"nodeId": "e59b13fb0cfc4fa97bac9103d45398031ecfa5f8d057f2082de66e89", "state": "ALIVE", "isHeadNode": true}}], "nodeLogicalResources": {}}}`))
	f.set("/nodes/e59b13fb0cfc4fa97bac9103d45398031ecfa5f8d057f2082de66e89", capture(t, "nodes_head_detail.body"))
	d, _ := NewDashboard(srv.URL, "", time.Second)
	a, err := d.GCSAddress(context.Background())
	if err != nil || !validHostPort(a) {
		t.Errorf("GCSAddress = %q, %v", a, err)
	}
	f.set("/nodes?view=summary", []byte(`{"result": true, "msg": "", "data": {"summary": []}}`))
	if _, err := d.GCSAddress(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Errorf("no head: %v", err)
	}
}

func stateBody(total, afterTrunc, filtered int, rows []string) []byte {
	return []byte(fmt.Sprintf(`{"result": true, "msg": "", "data": {"result": {"total": %d, "num_after_truncation": %d, "num_filtered": %d, "result": [%s], "partial_failure_warning": "", "warnings": null}}}`,
		total, afterTrunc, filtered, strings.Join(rows, ", ")))
}

func nodeRow(i int) string {
	return fmt.Sprintf(`{"node_id": "%056x", "node_ip": "10.0.0.%d", "is_head_node": %v, "state": "ALIVE", "resources_total": {"CPU": 1.0}}`, i+1, i%250+1, i == 0)
}

func TestDashboardTruncation(t *testing.T) {
	ctx := context.Background()
	f, srv := newFakeDashboard(t, "")
	d, _ := NewDashboard(srv.URL, "", time.Second)
	d.Limit = 2
	rows := []string{nodeRow(0), nodeRow(1)}
	f.set("/api/v0/nodes", stateBody(3, 3, 3, rows))
	// The summary has all three: the fallback is used.
	var sum []string
	for i := 0; i < 3; i++ {
		sum = append(sum, fmt.Sprintf(`{"raylet": {"nodeId": "%056x", "state": "ALIVE", "resourcesTotal": {"CPU": 1.0, "objectStoreMemory": 5.0}}}`, i+1))
	}
	f.set("/nodes?view=summary", []byte(`{"result": true, "msg": "", "data": {"summary": [`+strings.Join(sum, ",")+`]}}`))
	nodes, err := d.Nodes(ctx)
	if err != nil || len(nodes) != 3 || nodes[2].ResourcesTotal["object_store_memory"] != 5 {
		t.Errorf("Nodes with fallback = %+v, %v", nodes, err)
	}
	// Without a usable summary: the partial list and a TruncatedError.
	f.set("/nodes?view=summary", []byte(`{"result": false, "msg": "boom", "data": null}`))
	nodes, err = d.Nodes(ctx)
	var te *TruncatedError
	if !errors.Is(err, ErrTruncated) || !errors.As(err, &te) || te.Returned != 2 || te.Total != 3 || len(nodes) != 2 {
		t.Errorf("Nodes truncated = %d nodes, %v", len(nodes), err)
	}
	// Actors: the data source capped at fewer than total.
	f.set("/api/v0/actors", stateBody(20000, 10000, 10000, nil))
	if _, err := d.Actors(ctx); !errors.Is(err, ErrTruncated) {
		t.Errorf("Actors: %v", err)
	}
	// Limit too high: Ray's 400 with its message.
	f.set("/api/v0/nodes", capture(t, "api_v0_nodes_limit_too_high.body"))
}

func TestDashboardNotRay(t *testing.T) {
	ctx := context.Background()
	f, srv := newFakeDashboard(t, "")
	f.set("/api/version", []byte(`{"version": "1.2.3"}`))
	f.set("/cluster_id", []byte(`<html>hello</html>`))
	f.set("/api/v0/nodes", []byte(`{"result": false, "msg": "Given limit 100000 exceeds the supported limit 10000.", "data": {"result": null}}`))
	d, _ := NewDashboard(srv.URL, "", time.Second)
	if _, err := d.Version(ctx); !errors.Is(err, ErrNotRay) {
		t.Errorf("Version: %v", err)
	}
	if _, err := d.ClusterID(ctx); err == nil {
		t.Error("ClusterID of HTML: no error")
	}
	var se *StatusError
	if _, err := d.Nodes(ctx); !errors.As(err, &se) || !strings.Contains(se.Message, "exceeds") {
		t.Errorf("Nodes: %v", err)
	}
	if _, err := NewDashboard("ray://x:1", "", 0); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("NewDashboard(ray://): %v", err)
	}
}

// TestDashboardCancel: the caller's context ends a request to a silent
// server, well before the client's own timeout (ten minutes, past the
// hang guard).
func TestDashboardCancel(t *testing.T) {
	lis, heard := recordingSilentListener(t)
	d, _ := NewDashboard("http://"+lis, "", 10*time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := d.AuthMode(ctx)
		done <- err
	}()
	// Cancel once the request is waiting for its answer.
	deadline := time.Now().Add(hangGuard)
	for !strings.Contains(heard(), "\r\n\r\n") {
		if time.Now().After(deadline) {
			t.Fatalf("the request never reached the server: %q", heard())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("AuthMode on a silent port, cancelled: %v", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("AuthMode on a silent port did not return after the cancellation")
	}
}

// hangGuard bounds waits for something that must happen; it only fails a
// test that would otherwise hang, never a slow machine.
const hangGuard = 60 * time.Second

func TestGCS(t *testing.T) {
	ctx := context.Background()
	fake, addr := startFakeGCS(t, testToken)
	for _, tok := range []string{"", "wrong"} {
		if _, err := DialGCS(ctx, addr, tok); !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), testToken) {
			t.Errorf("DialGCS(token %q): %v, want ErrAuth", tok, err)
		}
	}
	g, err := DialGCS(ctx, addr, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.RayVersion != "2.60.0" {
		t.Errorf("RayVersion %q", g.RayVersion)
	}
	if id, err := g.ClusterID(ctx); err != nil || id != "82184c8a1710787e984406e7a0632de0587aec7b8591224e3edb10f1" {
		t.Errorf("ClusterID = %q, %v", id, err)
	}
	nodes, err := g.Nodes(ctx)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
	if n := nodes[0]; n.State != "ALIVE" || !n.IsHead || n.ResourcesTotal["CPU"] != 2 || n.NodeManagerPort != 35733 || n.Hostname != "vm" || n.SessionName != "session_2026-11-25_21-29-08_322878_21016" {
		t.Errorf("head = %+v", n)
	}
	if n := nodes[1]; n.State != "DEAD" || n.StateReason != "received SIGTERM" || n.EndTimeMs != 5 {
		t.Errorf("dead = %+v", n)
	}
	actors, err := g.Actors(ctx)
	if err != nil || len(actors) != 1 {
		t.Fatalf("Actors = %+v, %v", actors, err)
	}
	if a := actors[0]; a.ActorID != "a7acbfa16de12a4ed5a06b9001000000" || a.JobID != "01000000" || a.Address != "192.0.2.2:10021" || a.NodeID != nodes[0].NodeID || a.PID != 21503 {
		t.Errorf("actor = %+v", a)
	}
	if all, err := g.AllActors(ctx); err != nil || len(all) != 2 || all[1].State != "DEAD" {
		t.Errorf("AllActors = %+v, %v", all, err)
	}
	if v, err := g.DashboardAddress(ctx); err != nil || v != "127.0.0.1:8265" {
		t.Errorf("DashboardAddress = %q, %v", v, err)
	}
	if v, err := g.SessionName(ctx); err != nil || v != "session_2026-11-25_21-29-08_322878_21016" {
		t.Errorf("SessionName = %q, %v", v, err)
	}
	if _, err := g.KVGet(ctx, "x", "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("KVGet missing: %v", err)
	}
	if fake.sawCID {
		t.Error("ray_cluster_id metadata was sent")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Nodes(cctx); err == nil {
		t.Error("Nodes with a cancelled context: no error")
	}
	if _, err := DialGCS(ctx, "http://x:1", ""); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("DialGCS(http://): %v", err)
	}
}

func silentListener(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	t.Cleanup(func() { close(done); _ = lis.Close() })
	return lis.Addr().String()
}

// recordingSilentListener is silentListener that also keeps what the
// clients sent (heard returns it).
func recordingSilentListener(t *testing.T) (addr string, heard func() string) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []byte
	var conns []net.Conn
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					mu.Lock()
					got = append(got, buf[:n]...)
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return lis.Addr().String(), func() string {
		mu.Lock()
		defer mu.Unlock()
		return string(got)
	}
}

func splitAddr(t *testing.T, a string) (string, int) {
	h, p, err := net.SplitHostPort(strings.TrimPrefix(a, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestIdentify(t *testing.T) {
	ctx := context.Background()
	_, dashSrv := newFakeDashboard(t, testToken)
	_, gcsTok := startFakeGCS(t, testToken)
	_, gcsOpen := startFakeGCS(t, "")
	csTok := startFakeClientServer(t, testToken)
	csOpen := startFakeClientServer(t, "")
	for _, tc := range []struct {
		addr string
		tok  string
		want Kind
		ev   string
	}{
		{dashSrv.URL, testToken, KindDashboard, "/api/version → 200 ray 2.60.0"},
		{dashSrv.URL, "", KindDashboard, `"token"`},
		{gcsTok, "", KindGCS, "token mode"},
		{gcsTok, testToken, KindGCS, "with the token → OK"},
		{gcsTok, "wrong", KindGCS, "token rejected"},
		{gcsOpen, "", KindGCS, "auth off"},
		{csTok, "", KindClientServer, "token mode"},
		{csTok, testToken, KindClientServer, "with the token → OK"},
		{csOpen, "", KindClientServer, "auth off"},
	} {
		h, p := splitAddr(t, tc.addr)
		k, ev, err := Identify(ctx, h, p, tc.tok, 2*time.Second)
		if err != nil || k != tc.want || !strings.Contains(strings.Join(ev, "\n"), tc.ev) {
			t.Errorf("Identify %s (token %q) = %s, %q, %v; want %s with %q", tc.addr, tc.tok, k, ev, err, tc.want, tc.ev)
		}
		if strings.Contains(strings.Join(ev, ""), testToken) {
			t.Fatal("token in evidence")
		}
	}

	// A silent listener: ErrNotRay, after the probe timeouts (not a bound
	// on the time). Identify stops after gRPC's call deadline and does not
	// ask over HTTP: the connect timeout is twice the call's, so the call
	// ends with DeadlineExceeded first; only a scheduler delay of more than
	// the whole timeout could reverse that, so that part is logged, not
	// asserted.
	silent, heard := recordingSilentListener(t)
	h, p := splitAddr(t, silent)
	if _, _, err := Identify(ctx, h, p, "", 300*time.Millisecond); !errors.Is(err, ErrNotRay) {
		t.Errorf("silent: %v", err)
	} else if strings.Contains(heard(), "HTTP/1.1") {
		t.Logf("the silent listener was asked over HTTP too (%v)", err)
	}
	// A plain HTTP server.
	h, p = splitAddr(t, httptestServer(t))
	if _, ev, err := Identify(ctx, h, p, testToken, time.Second); !errors.Is(err, ErrNotRay) {
		t.Errorf("plain HTTP: %v %q", err, ev)
	}
	// A refused port fails at once: with the refusal, not a timeout (ten
	// minutes, while the context gives up after the hang guard).
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	h, p = splitAddr(t, lis.Addr().String())
	_ = lis.Close()
	gctx, gcancel := context.WithTimeout(ctx, hangGuard)
	defer gcancel()
	if _, _, err := Identify(gctx, h, p, "", 10*time.Minute); err == nil || errors.Is(err, ErrNotRay) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refused: %v", err)
	}
	// Cancellation.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	h, p = splitAddr(t, silentListener(t))
	if _, _, err := Identify(cctx, h, p, "", 5*time.Second); err == nil {
		t.Error("cancelled: no error")
	}
}
