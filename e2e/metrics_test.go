package e2e

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeMetrics reads /metrics with token (when set) and parses it with
// Prometheus's own text parser; it returns the status when not 200.
func scrapeMetrics(t *testing.T, d *daemon, token string) (map[string]*dto.MetricFamily, int) {
	t.Helper()
	req, err := http.NewRequest("GET", d.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: content type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams, 200
}

// metricValue is the value (a histogram's count) of the first series of
// name whose labels include want; 0 when there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	for _, m := range fams[name].GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// The real daemon serves /metrics: it parses, shows the demo nodes and
// the local plugin, and an upload plus a local broadcast moves the
// transfer counters and the route histograms.
func TestMetricsFollowAnUploadAndATransfer(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	fams, code := scrapeMetrics(t, d, "")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	if n := metricValue(fams, "castray_nodes", map[string]string{"kind": "local", "state": "active"}); n != 3 {
		t.Fatalf("active local nodes = %v, want the 3 demo nodes", n)
	}
	if n := metricValue(fams, "castray_plugin_healthy", map[string]string{"plugin": "local", "kind": "transfer"}); n != 1 {
		t.Fatalf("the local plugin is not reported healthy: %v", n)
	}
	local := map[string]string{"backend": "local"}
	if n := metricValue(fams, "castray_transfer_bytes_total", local); n != 0 {
		t.Fatalf("bytes before any transfer: %v", n)
	}

	payload := make([]byte, 1<<20+3)
	_, _ = rand.Read(payload)
	if code := d.do("PUT", "/api/files/payload.bin", payload, nil); code != 201 {
		t.Fatalf("upload: %d", code)
	}
	if code := d.do("POST", "/api/transfers", map[string]any{"file_name": "payload.bin", "mode": "broadcast"}, nil); code != 202 {
		t.Fatalf("start transfer: %d", code)
	}
	eventually(t, 30*time.Second, "the transfer counters to move", func() bool {
		fams, _ = scrapeMetrics(t, d, "")
		return metricValue(fams, "castray_transfer_runs_total", map[string]string{"backend": "local", "state": "completed"}) == 1
	})
	if n := metricValue(fams, "castray_transfer_targets_total", map[string]string{"backend": "local", "state": "completed"}); n != 3 {
		t.Fatalf("completed local targets = %v, want 3", n)
	}
	if n := metricValue(fams, "castray_transfer_bytes_total", local); n != 3*float64(len(payload)) {
		t.Fatalf("local bytes = %v, want %d", n, 3*len(payload))
	}
	if n := metricValue(fams, "castray_transfers_active", nil); n != 0 {
		t.Fatalf("active transfers after the end: %v", n)
	}
	for _, route := range []map[string]string{
		{"method": "PUT", "route": "/api/files/:name", "code": "201"},
		{"method": "POST", "route": "/api/transfers", "code": "202"},
	} {
		if n := metricValue(fams, "castray_http_request_duration_seconds", route); n != 1 {
			var seen []string
			for _, m := range fams["castray_http_request_duration_seconds"].GetMetric() {
				seen = append(seen, fmt.Sprint(m.GetLabel(), " ", m.GetHistogram().GetSampleCount()))
			}
			t.Fatalf("%v counted %v times, want 1; series:\n%s", route, n, strings.Join(seen, "\n"))
		}
	}
}

// With a token, /metrics needs it like the API does; /healthz stays open.
func TestMetricsNeedTheToken(t *testing.T) {
	d := startDaemon(t, daemonOpts{env: []string{"CASTRAY_WEB_SERVER__API_TOKEN=metrics-token"}})
	if _, code := scrapeMetrics(t, d, ""); code != 401 {
		t.Fatalf("GET /metrics without the token: %d, want 401", code)
	}
	if _, code := scrapeMetrics(t, d, "metrics-token"); code != 200 {
		t.Fatalf("GET /metrics with the token: %d", code)
	}
}
