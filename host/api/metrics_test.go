package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	hclog "github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/metrics"
	"github.com/castray/castray/host/registry"
)

// metricsServer is an API with real metrics over a registry.
type metricsServer struct {
	srv *Server
	reg *registry.Registry
	dir string
}

func newMetricsServer(t *testing.T, token string) *metricsServer {
	t.Helper()
	dir := t.TempDir()
	reg := registry.New(nil, func(string, any) {})
	m := metrics.New()
	if err := m.Watch(metrics.Sources{VisitNodes: reg.Visit}); err != nil {
		t.Fatal(err)
	}
	srv := New(Deps{Registry: reg, Plugins: noPlugins{}, Discovery: noDiscovery{}, Bus: events.NewBus(), Log: hclog.NewNullLogger(),
		InboxRoot: filepath.Join(dir, "inbox"), BodyLimit: 1 << 10, ClientBuffer: 8, Version: "test", Token: token, Metrics: m})
	return &metricsServer{srv: srv, reg: reg, dir: dir}
}

func (ms *metricsServer) get(t *testing.T, path, token string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ms.srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// scrape reads /metrics and parses it with Prometheus's text parser.
func (ms *metricsServer) scrape(t *testing.T, token string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := ms.get(t, "/metrics", token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: content type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// series returns the value (a histogram's count) of the series of name
// whose labels include these, or -1 when there is none.
func series(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range labels {
			if have[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

const httpSeries = "castray_http_request_duration_seconds"

func TestMetricsRequestLatencyByRoutePattern(t *testing.T) {
	ms := newMetricsServer(t, "")
	if _, err := ms.reg.AddLocal("n1", 0, filepath.Join(ms.dir, "inbox")); err != nil {
		t.Fatal(err)
	}
	fams := ms.scrape(t, "")
	route := map[string]string{"method": "GET", "route": "/api/nodes/:id", "code": "200"}
	if n := series(fams, httpSeries, route); n != -1 {
		t.Fatalf("GET /api/nodes/:id counted before any request: %v", n)
	}
	for range 2 {
		if resp, body := ms.get(t, "/api/nodes/n1", ""); resp.StatusCode != 200 {
			t.Fatalf("GET /api/nodes/n1: %d %s", resp.StatusCode, body)
		}
	}
	if resp, _ := ms.get(t, "/api/nodes/nope", ""); resp.StatusCode != 404 {
		t.Fatalf("GET /api/nodes/nope: %d", resp.StatusCode)
	}
	if resp, _ := ms.get(t, "/no/such/thing", ""); resp.StatusCode != 404 {
		t.Fatalf("GET /no/such/thing: %d", resp.StatusCode)
	}
	fams = ms.scrape(t, "")
	if n := series(fams, httpSeries, route); n != 2 {
		t.Fatalf("GET /api/nodes/:id 200 counted %v times, want 2", n)
	}
	// The error handler's status is the one recorded.
	if n := series(fams, httpSeries, map[string]string{"method": "GET", "route": "/api/nodes/:id", "code": "404"}); n != 1 {
		t.Fatalf("GET /api/nodes/:id 404 counted %v times, want 1", n)
	}
	// The scrape before counts itself.
	if n := series(fams, httpSeries, map[string]string{"route": "/metrics", "code": "200"}); n != 1 {
		t.Fatalf("GET /metrics counted %v times, want 1", n)
	}
	// Never a raw path as a label value.
	for _, m := range fams[httpSeries].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && (strings.Contains(l.GetValue(), "n1") || strings.Contains(l.GetValue(), "nope") || strings.Contains(l.GetValue(), "such")) {
				t.Fatalf("a raw path became a route label: %q", l.GetValue())
			}
		}
	}
}

func TestMetricsNodesFollowTheRegistry(t *testing.T) {
	ms := newMetricsServer(t, "")
	local := map[string]string{"kind": "local", "state": "active"}
	if n := series(ms.scrape(t, ""), "castray_nodes", local); n != 0 {
		t.Fatalf("active local nodes = %v, want 0", n)
	}
	for _, id := range []string{"n1", "n2"} {
		if _, err := ms.reg.AddLocal(id, 0, filepath.Join(ms.dir, "inbox")); err != nil {
			t.Fatal(err)
		}
	}
	ms.reg.SyncCluster("c1", []registry.Node{{ID: "ray:c1:aa"}, {ID: "ray:c1:bb", State: registry.StateDead}})
	fams := ms.scrape(t, "")
	if n := series(fams, "castray_nodes", local); n != 2 {
		t.Fatalf("active local nodes = %v, want 2", n)
	}
	if n := series(fams, "castray_nodes", map[string]string{"kind": "ray-node", "state": "dead"}); n != 1 {
		t.Fatalf("dead ray nodes = %v, want 1", n)
	}
	if _, err := ms.reg.Remove("n1"); err != nil {
		t.Fatal(err)
	}
	if n := series(ms.scrape(t, ""), "castray_nodes", local); n != 1 {
		t.Fatalf("after a removal, active local nodes = %v, want 1", n)
	}
}

func TestMetricsRequireTheToken(t *testing.T) {
	ms := newMetricsServer(t, "s3cret")
	if resp, _ := ms.get(t, "/metrics", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without a token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := ms.get(t, "/metrics", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /metrics with a wrong token: %d, want 401", resp.StatusCode)
	}
	fams := ms.scrape(t, "s3cret")
	// The refused scrapes were counted too, under the middleware's pattern.
	if n := series(fams, httpSeries, map[string]string{"code": "401"}); n != 2 {
		t.Fatalf("401s counted %v times, want 2", n)
	}
	if resp, _ := ms.get(t, "/healthz", ""); resp.StatusCode != 200 {
		t.Fatalf("GET /healthz without a token: %d", resp.StatusCode)
	}
}

func TestNoMetricsRouteWithoutMetrics(t *testing.T) {
	srv := New(Deps{Registry: registry.New(nil, nil), Log: hclog.NewNullLogger(), BodyLimit: 1 << 10})
	resp, err := srv.App().Test(httptest.NewRequest(http.MethodGet, "/metrics", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics without Deps.Metrics: %d, want 404", resp.StatusCode)
	}
}
