package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/discovery"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/transfer"
)

// scrape fetches the handler's exposition and parses it as Prometheus does.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of name with exactly these labels
// (a histogram's sample count), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i, l := range m.GetLabel() {
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func want(t *testing.T, fams map[string]*dto.MetricFamily, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(fams, name, labels...)
	if !ok {
		t.Fatalf("%s%v: no such series", name, labels)
	}
	if got != v {
		t.Fatalf("%s%v = %v, want %v", name, labels, got, v)
	}
}

func TestEventMetricsMoveWithEvents(t *testing.T) {
	m := New()
	h := m.Handler()
	fams := scrape(t, h)
	want(t, fams, 0, "castray_discovery_rounds_total")
	want(t, fams, 0, "castray_websocket_clients")

	start := time.Now()
	m.Round(&discovery.Result{StartedAt: start, FinishedAt: start.Add(2 * time.Second), Plugins: map[string]discovery.PluginRun{
		"dashboard-scan": {Name: "dashboard-scan", DurationMS: 1500},
		"gcs-scan":       {Name: "gcs-scan", DurationMS: 2000, Error: "timed out after 2s"},
	}}, nil)
	m.Round(nil, discovery.ErrNoPlugins)
	m.Sync("c1", 10*time.Millisecond, nil)
	m.Sync("c1", 20*time.Millisecond, errors.New("nodes: connection refused"))
	m.TransferEnded(transfer.Record{Backend: transfer.BackendMixed, State: transfer.StatePartial}, []transfer.TargetRecord{
		{NodeID: "a", Backend: "local", State: transfer.StateCompleted, BytesSent: 100},
		{NodeID: "b", Backend: "ray", State: transfer.StateFailed, BytesSent: 30},
		{NodeID: "c", Backend: "local", State: transfer.StateCompleted, BytesSent: 100},
	})
	m.HTTPRequest("GET", "/api/nodes/:id", 200, time.Millisecond)
	m.HTTPRequest("GET", "/api/nodes/:id", 404, time.Millisecond)
	m.HTTPRequest("GET", "/api/nodes/:id", 200, time.Millisecond)
	m.WSClient(1)
	m.WSClient(1)
	m.WSClient(-1)
	m.WSDropped()

	fams = scrape(t, h)
	want(t, fams, 1, "castray_discovery_rounds_total")
	want(t, fams, 1, "castray_discovery_round_errors_total")
	want(t, fams, 1, "castray_discovery_round_duration_seconds")
	want(t, fams, 1, "castray_discovery_plugin_duration_seconds", "plugin", "gcs-scan")
	want(t, fams, 1, "castray_discovery_plugin_errors_total", "plugin", "gcs-scan")
	want(t, fams, 0, "castray_discovery_plugin_errors_total", "plugin", "dashboard-scan")
	want(t, fams, 2, "castray_cluster_sync_duration_seconds", "cluster", "c1")
	want(t, fams, 1, "castray_cluster_sync_errors_total", "cluster", "c1")
	want(t, fams, 1, "castray_transfer_runs_total", "backend", "mixed", "state", "partial")
	want(t, fams, 2, "castray_transfer_targets_total", "backend", "local", "state", "completed")
	want(t, fams, 1, "castray_transfer_targets_total", "backend", "ray", "state", "failed")
	want(t, fams, 200, "castray_transfer_bytes_total", "backend", "local")
	want(t, fams, 30, "castray_transfer_bytes_total", "backend", "ray")
	want(t, fams, 2, "castray_http_request_duration_seconds", "code", "200", "method", "GET", "route", "/api/nodes/:id")
	want(t, fams, 1, "castray_http_request_duration_seconds", "code", "404", "method", "GET", "route", "/api/nodes/:id")
	want(t, fams, 1, "castray_websocket_clients")
	want(t, fams, 1, "castray_websocket_dropped_total")
	if _, ok := fams["go_goroutines"]; !ok {
		t.Fatal("the Go runtime collector is missing")
	}
}

func TestStateMetricsAreReadAtScrapeTime(t *testing.T) {
	var mu sync.Mutex
	nodes := []registry.Node{
		{ID: "n1", Kind: registry.KindLocal, State: registry.StateActive},
		{ID: "n2", Kind: registry.KindLocal, State: registry.StateActive},
		{ID: "r1", Kind: registry.KindRayNode, State: registry.StateActive},
	}
	clusters := []connector.Cluster{{ID: "c1", State: connector.StateConnected}}
	active := 0
	plugins := []pluginmgr.Status{
		{Name: "local", Kind: "transfer", State: pluginmgr.StateHealthy},
		{Name: "ray", Kind: "transfer", State: pluginmgr.StateRestarting, Restarts: 3},
	}
	m := New()
	err := m.Watch(Sources{
		Clusters: func() []connector.Cluster { mu.Lock(); defer mu.Unlock(); return clusters },
		VisitNodes: func(f func(*registry.Node, []registry.Quantity, []registry.Quantity)) {
			mu.Lock()
			defer mu.Unlock()
			for i := range nodes {
				f(&nodes[i], nil, nil)
			}
		},
		ActiveTransfers: func() int { mu.Lock(); defer mu.Unlock(); return active },
		Plugins:         func() []pluginmgr.Status { mu.Lock(); defer mu.Unlock(); return plugins },
	})
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, m.Handler())
	want(t, fams, 2, "castray_nodes", "kind", "local", "state", "active")
	want(t, fams, 1, "castray_nodes", "kind", "ray-node", "state", "active")
	want(t, fams, 0, "castray_nodes", "kind", "ray-actor", "state", "dead")
	want(t, fams, 1, "castray_clusters", "state", "connected")
	want(t, fams, 0, "castray_clusters", "state", "disconnected")
	want(t, fams, 0, "castray_transfers_active")
	want(t, fams, 1, "castray_plugin_healthy", "kind", "transfer", "plugin", "local")
	want(t, fams, 0, "castray_plugin_healthy", "kind", "transfer", "plugin", "ray")
	want(t, fams, 1, "castray_plugin_state", "kind", "transfer", "plugin", "ray", "state", "restarting")
	want(t, fams, 0, "castray_plugin_state", "kind", "transfer", "plugin", "ray", "state", "healthy")
	want(t, fams, 3, "castray_plugin_restarts_total", "kind", "transfer", "plugin", "ray")

	// The cluster goes offline: its nodes become inactive.
	mu.Lock()
	clusters = []connector.Cluster{{ID: "c1", State: connector.StateDisconnected}}
	nodes = append(nodes[:2:2], registry.Node{ID: "r1", Kind: registry.KindRayNode, State: registry.StateInactive})
	active = 2
	plugins = append(plugins, pluginmgr.Status{Name: "ray", Kind: "transfer", State: pluginmgr.StateFailed}) // a duplicate is skipped
	mu.Unlock()
	fams = scrape(t, m.Handler())
	want(t, fams, 0, "castray_nodes", "kind", "ray-node", "state", "active")
	want(t, fams, 1, "castray_nodes", "kind", "ray-node", "state", "inactive")
	want(t, fams, 0, "castray_clusters", "state", "connected")
	want(t, fams, 1, "castray_clusters", "state", "disconnected")
	want(t, fams, 2, "castray_transfers_active")
}

func TestNilMetricsHooksAreNoOps(t *testing.T) {
	var m *Metrics
	m.Round(nil, errors.New("x"))
	m.Sync("c", time.Second, nil)
	m.TransferEnded(transfer.Record{}, nil)
	m.HTTPRequest("GET", "/", 200, 0)
	m.WSClient(1)
	m.WSDropped()
}
