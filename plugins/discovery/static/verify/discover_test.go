package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
	"github.com/castray/castray/sdk/raytoken"
)

func clustersJSON(entries ...string) string {
	return `{"clusters": [` + strings.Join(entries, ", ") + `]}`
}

func TestUnconfiguredReportsNothing(t *testing.T) {
	for _, cfg := range []string{"", "{}", `{"clusters": []}`} {
		// Even with a token around and known addresses in the request.
		d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken}, cfg)
		rec, sum := discover(t, plugintest.Discovery(t, d), &sdk.DiscoverRequest{Addresses: []string{"127.0.0.1:6379"}})
		if len(rec.cands) != 0 || len(rec.notes) != 0 || sum.GetProbes() != 0 || sum.GetCandidates() != 0 || len(sum.GetErrors()) != 0 {
			t.Fatalf("config %q: candidates %v notes %v summary %v", cfg, rec.cands, rec.notes, sum)
		}
	}
}

func TestDashboardVerified(t *testing.T) {
	f := newFakeDashboard(t, "disabled", "")
	// A token is around, but an auth-disabled dashboard never gets it.
	d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken},
		clustersJSON(`{"name": "lab", "dashboard_url": "`+f.url()+`/"}`))
	// Over the real gRPC path.
	rec, sum := discover(t, plugintest.Discovery(t, d), nil)
	c := onlyCandidate(t, rec)
	if c.GetSource() != "static" || c.GetDashboardUrl() != f.url() || c.GetRayVersion() != "2.60.0" || c.GetSessionName() != sessionA ||
		c.GetClusterId() != clusterA || c.GetNodeCount() != 1 || c.GetStatus() != sdk.StatusActive || c.GetAuthRequired() || c.GetGcsAddress() != "" {
		t.Fatalf("candidate %v", c)
	}
	if !reflect.DeepEqual(c.GetResourcesTotal(), map[string]float64{"CPU": 2, "memory": 1e9}) {
		t.Fatalf("resources %v (the dead node's must not count)", c.GetResourcesTotal())
	}
	a := c.GetAttributes()
	if a["verification"] != "verified" || a["dashboard_check"] != "verified" || a["auth_mode"] != "disabled" || a["static_name"] != "lab" {
		t.Fatalf("attributes %v", a)
	}
	if _, ok := a["token_source"]; ok {
		t.Fatalf("a token was used on an auth-disabled dashboard: %v", a)
	}
	want := []string{
		"GET " + f.url() + "/api/authentication_mode → disabled (0 ms)",
		"GET " + f.url() + "/api/version → ray 2.60.0, " + sessionA + " (0 ms)",
		"GET " + f.url() + "/cluster_id → " + clusterA + " (0 ms)",
		"GET " + f.url() + "/api/v0/nodes → 1 alive of 2 nodes (0 ms)",
	}
	got := append([]string(nil), c.GetEvidence()...)
	// The last two run in parallel.
	if len(got) == 4 && strings.Contains(got[2], "/api/v0/nodes") {
		got[2], got[3] = got[3], got[2]
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("evidence\n got %q\nwant %q", c.GetEvidence(), want)
	}
	for _, r := range f.requests() {
		if r.auth != "" {
			t.Fatalf("Authorization sent to %s", r.path)
		}
	}
	if len(rec.notes) != 0 {
		t.Fatalf("notes:\n%s", rec.notesText())
	}
	if sum.GetCandidates() != 1 || sum.GetProbes() != 1 || len(sum.GetErrors()) != 0 {
		t.Fatalf("summary %v", sum)
	}
}

func TestDashboardBeforeTokenAuth(t *testing.T) {
	f := newFakeDashboard(t, "old", "")
	d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken}, clustersJSON(`{"dashboard_url": "`+f.url()+`"}`))
	rec, _ := discover(t, d, nil)
	c := onlyCandidate(t, rec)
	if c.GetStatus() != sdk.StatusActive || c.GetClusterId() != clusterA || c.GetAttributes()["auth_mode"] != "" {
		t.Fatalf("candidate %v", c)
	}
	if !strings.Contains(c.GetEvidence()[0], "404: Ray before 2.52") {
		t.Fatalf("evidence %q", c.GetEvidence())
	}
	for _, r := range f.requests() {
		if r.auth != "" {
			t.Fatalf("Authorization sent to %s of a dashboard without token auth", r.path)
		}
	}
}

func TestDashboardTokenMatrix(t *testing.T) {
	f := newFakeDashboard(t, "token", testToken)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("no token", func(t *testing.T) {
		d := newTestDiscoverer(t, nil, clustersJSON(`{"name": "prod", "dashboard_url": "`+f.url()+`"}`))
		rec, _ := discover(t, d, nil)
		c := onlyCandidate(t, rec)
		if c.GetStatus() != sdk.StatusUnknown || !c.GetAuthRequired() || c.GetDashboardUrl() != f.url() || c.GetRayVersion() != "" ||
			c.GetNodeCount() != -1 || c.GetAttributes()["verification"] != "auth_required" || c.GetAttributes()["auth_mode"] != "token" {
			t.Fatalf("candidate %v", c)
		}
		want := `warn ` + f.url() + `: clusters[0] "prod": dashboard ` + f.url() + ` cannot be verified: auth required: token auth is on and no token was found`
		if !strings.HasPrefix(rec.notesText(), want) || len(rec.notes) != 1 {
			t.Fatalf("notes:\n%s\nwant a note starting %q", rec.notesText(), want)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		before := len(f.requests())
		d := newTestDiscoverer(t, nil, clustersJSON(`{"dashboard_url": "`+f.url()+`", "auth_token": "`+wrongToken+`"}`))
		rec, _ := discover(t, d, nil)
		c := onlyCandidate(t, rec)
		if c.GetStatus() != sdk.StatusUnknown || !c.GetAuthRequired() || c.GetAttributes()["token_source"] != raytoken.SourceConfig {
			t.Fatalf("candidate %v", c)
		}
		if want := "cannot be verified: auth required: the dashboard rejected the token from " + raytoken.SourceConfig; !strings.Contains(rec.notesText(), want) {
			t.Fatalf("notes:\n%s\nwant %q", rec.notesText(), want)
		}
		noLeak(t, rec, wrongToken)
		// The open endpoint never gets the token.
		for _, r := range f.requests()[before:] {
			if r.path == "/api/authentication_mode" && r.auth != "" {
				t.Fatalf("token sent to the open %s", r.path)
			}
		}
	})

	t.Run("token file", func(t *testing.T) {
		// The file wins over the environment's (wrong) token.
		d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": wrongToken},
			clustersJSON(`{"dashboard_url": "`+f.url()+`", "auth_token_file": "`+tokenFile+`"}`))
		rec, _ := discover(t, d, nil)
		c := onlyCandidate(t, rec)
		if c.GetStatus() != sdk.StatusActive || c.GetAuthRequired() || c.GetClusterId() != clusterA || c.GetNodeCount() != 1 ||
			c.GetAttributes()["token_source"] != SourceTokenFile {
			t.Fatalf("candidate %v\nnotes:\n%s", c, rec.notesText())
		}
		noLeak(t, rec, testToken)
	})

	t.Run("Ray's lookup", func(t *testing.T) {
		d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN_PATH": tokenFile}, clustersJSON(`{"dashboard_url": "`+f.url()+`"}`))
		rec, _ := discover(t, d, nil)
		c := onlyCandidate(t, rec)
		if c.GetStatus() != sdk.StatusActive || c.GetAttributes()["token_source"] != raytoken.SourceEnvPath {
			t.Fatalf("candidate %v", c)
		}
		noLeak(t, rec, testToken)
	})

	t.Run("unreadable token file", func(t *testing.T) {
		// A named file that cannot be read is not silently replaced by the
		// environment's token.
		missing := filepath.Join(t.TempDir(), "nope")
		d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken},
			clustersJSON(`{"dashboard_url": "`+f.url()+`", "auth_token_file": "`+missing+`"}`))
		rec, _ := discover(t, d, nil)
		c := onlyCandidate(t, rec)
		if c.GetStatus() != sdk.StatusUnknown || !c.GetAuthRequired() {
			t.Fatalf("candidate %v", c)
		}
		if !strings.Contains(rec.notesText(), "auth_token_file: open "+missing) || !strings.Contains(rec.notesText(), "checking without a token") {
			t.Fatalf("notes:\n%s", rec.notesText())
		}
	})

	t.Run("unreadable RAY_AUTH_TOKEN_PATH", func(t *testing.T) {
		d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN_PATH": "/nonexistent/token"}, clustersJSON(`{"dashboard_url": "`+f.url()+`"}`))
		rec, _ := discover(t, d, nil)
		if c := onlyCandidate(t, rec); !c.GetAuthRequired() {
			t.Fatalf("candidate %v", c)
		}
		if !strings.Contains(rec.notesText(), "warn : token lookup: RAY_AUTH_TOKEN_PATH") {
			t.Fatalf("notes:\n%s", rec.notesText())
		}
	})
}

func TestGCSVerified(t *testing.T) {
	g := newFakeGCS(t, "")
	d := newTestDiscoverer(t, map[string]string{"RAY_AUTH_TOKEN": testToken}, clustersJSON(`{"gcs_address": "`+g.addr+`"}`))
	rec, _ := discover(t, plugintest.Discovery(t, d), nil)
	c := onlyCandidate(t, rec)
	if c.GetGcsAddress() != g.addr || c.GetClusterId() != clusterA || c.GetSessionName() != sessionA || c.GetSessionDir() != "/tmp/ray/"+sessionA ||
		c.GetRayVersion() != "2.60.0" || c.GetNodeCount() != 1 || c.GetStatus() != sdk.StatusActive || c.GetAuthRequired() ||
		c.GetDashboardUrl() != "http://127.0.0.1:8265" {
		t.Fatalf("candidate %v\nnotes:\n%s", c, rec.notesText())
	}
	if !reflect.DeepEqual(c.GetResourcesTotal(), map[string]float64{"CPU": 2, "memory": 1e9}) {
		t.Fatalf("resources %v", c.GetResourcesTotal())
	}
	if a := c.GetAttributes(); a["gcs_check"] != "verified" || a["verification"] != "verified" || a["token_source"] != "" {
		t.Fatalf("attributes %v", a)
	}
	if c.GetEvidence()[0] != "GCS "+g.addr+" CheckAlive → ray 2.60.0 (0 ms)" || len(c.GetEvidence()) != 5 {
		t.Fatalf("evidence %q", c.GetEvidence())
	}
	for _, a := range g.sentAuth() {
		if a != "" {
			t.Fatalf("a token was sent to a GCS that did not ask for one")
		}
	}
}

func TestGCSTokenMatrix(t *testing.T) {
	g := newFakeGCS(t, testToken)
	for _, tc := range []struct {
		name, cfg string
		env       map[string]string
		verified  bool
		note      string
	}{
		{"no token", `{"gcs_address": "` + g.addr + `"}`, nil, false,
			"gcs " + g.addr + " cannot be verified: auth required: token auth is on and no token was found"},
		{"wrong token", `{"gcs_address": "` + g.addr + `", "auth_token": "` + wrongToken + `"}`, nil, false,
			"gcs " + g.addr + " cannot be verified: auth required: the GCS rejected the token from " + raytoken.SourceConfig},
		{"right token", `{"gcs_address": "` + g.addr + `"}`, map[string]string{"RAY_AUTH_TOKEN": testToken}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDiscoverer(t, tc.env, clustersJSON(tc.cfg))
			rec, _ := discover(t, d, nil)
			c := onlyCandidate(t, rec)
			noLeak(t, rec, testToken, wrongToken)
			if c.GetAttributes()["auth_mode"] != "token" {
				t.Fatalf("attributes %v", c.GetAttributes())
			}
			if tc.verified {
				if c.GetStatus() != sdk.StatusActive || c.GetAuthRequired() || c.GetClusterId() != clusterA || c.GetAttributes()["token_source"] != raytoken.SourceEnv {
					t.Fatalf("candidate %v\nnotes:\n%s", c, rec.notesText())
				}
				return
			}
			if c.GetStatus() != sdk.StatusUnknown || !c.GetAuthRequired() || c.GetGcsAddress() != g.addr || c.GetClusterId() != "" ||
				c.GetAttributes()["verification"] != "auth_required" {
				t.Fatalf("candidate %v", c)
			}
			if !strings.Contains(rec.notesText(), tc.note) {
				t.Fatalf("notes:\n%s\nwant %q", rec.notesText(), tc.note)
			}
		})
	}
	// The first call of every round went without the token.
	auths := g.sentAuth()
	if len(auths) == 0 || auths[0] != "" {
		t.Fatalf("first call carried a token")
	}
}

func TestDashboardAndGCS(t *testing.T) {
	t.Run("one cluster", func(t *testing.T) {
		f, g := newFakeDashboard(t, "disabled", ""), newFakeGCS(t, "")
		g.dashboard = "" // only the configured dashboard URL
		d := newTestDiscoverer(t, nil, clustersJSON(`{"dashboard_url": "`+f.url()+`", "gcs_address": "`+g.addr+`"}`))
		rec, sum := discover(t, d, nil)
		c := onlyCandidate(t, rec)
		if c.GetDashboardUrl() != f.url() || c.GetGcsAddress() != g.addr || c.GetClusterId() != clusterA || c.GetSessionDir() == "" ||
			c.GetStatus() != sdk.StatusActive || c.GetAttributes()["dashboard_check"] != "verified" || c.GetAttributes()["gcs_check"] != "verified" {
			t.Fatalf("candidate %v\nnotes:\n%s", c, rec.notesText())
		}
		if sum.GetProbes() != 2 || sum.GetCandidates() != 1 {
			t.Fatalf("summary %v", sum)
		}
	})

	t.Run("two clusters", func(t *testing.T) {
		f, g := newFakeDashboard(t, "disabled", ""), newFakeGCS(t, "")
		g.clusterID, g.session = clusterB, sessionB
		d := newTestDiscoverer(t, nil, clustersJSON(`{"name": "mixed", "dashboard_url": "`+f.url()+`", "gcs_address": "`+g.addr+`"}`))
		rec, _ := discover(t, d, nil)
		if len(rec.cands) != 2 {
			t.Fatalf("candidates %v", rec.cands)
		}
		a, b := rec.cands[0], rec.cands[1]
		if a.GetClusterId() != clusterA || a.GetDashboardUrl() != f.url() || a.GetGcsAddress() != "" ||
			b.GetClusterId() != clusterB || b.GetGcsAddress() != g.addr || b.GetSessionName() != sessionB {
			t.Fatalf("candidates\n%v\n%v", a, b)
		}
		want := `error clusters[0] "mixed": clusters[0] "mixed": dashboard_url ` + f.url() + ` and gcs_address ` + g.addr +
			` belong to different clusters (cluster id ` + clusterA + ` vs ` + clusterB + `)`
		if !strings.Contains(rec.notesText(), want) {
			t.Fatalf("notes:\n%s\nwant %q", rec.notesText(), want)
		}
	})

	t.Run("GCS unreachable", func(t *testing.T) {
		f := newFakeDashboard(t, "disabled", "")
		closed := closedAddr(t)
		d := newTestDiscoverer(t, nil, clustersJSON(`{"dashboard_url": "`+f.url()+`", "gcs_address": "`+closed+`"}`))
		rec, _ := discover(t, d, nil)
		c := onlyCandidate(t, rec)
		// Verified through the dashboard; the unverified GCS address is not
		// claimed as the cluster's.
		if c.GetStatus() != sdk.StatusActive || c.GetGcsAddress() != "" || c.GetAttributes()["unverified_gcs"] != closed ||
			c.GetAttributes()["gcs_check"] != "unreachable" || c.GetAttributes()["verification"] != "verified" {
			t.Fatalf("candidate %v", c)
		}
		if !strings.Contains(rec.notesText(), "gcs "+closed+" cannot be verified: TCP connect to "+closed+": connect: connection refused") {
			t.Fatalf("notes:\n%s", rec.notesText())
		}
	})
}

func TestUnverified(t *testing.T) {
	closed := closedAddr(t)
	html := newFakeDashboard(t, "html", "")
	broken := newFakeDashboard(t, "broken", "")
	web := newFakeDashboard(t, "html", "") // an HTTP server where a GCS was promised
	webAddr := strings.TrimPrefix(web.url(), "http://")
	cfg := clustersJSON(
		`{"dashboard_url": "http://`+closed+`"}`,
		`{"dashboard_url": "`+html.url()+`"}`,
		`{"dashboard_url": "`+broken.url()+`"}`,
		`{"gcs_address": "`+webAddr+`"}`,
	)
	want := map[string]struct {
		verdict, note string
	}{
		"http://" + closed: {"unreachable", "dashboard http://" + closed + " cannot be verified: TCP connect to " + closed + ": connect: connection refused"},
		html.url():         {"not_ray", "dashboard " + html.url() + " cannot be verified: not a Ray dashboard: "},
		broken.url():       {"error", "dashboard " + broken.url() + " cannot be verified: GET " + broken.url() + "/api/version: status 500"},
		webAddr:            {"not_ray", "gcs " + webAddr + " cannot be verified: not a Ray GCS: "},
	}

	d := newTestDiscoverer(t, nil, cfg)
	rec, sum := discover(t, d, nil)
	t.Logf("notes:\n%s", rec.notesText())
	if len(rec.cands) != 4 || sum.GetCandidates() != 4 || sum.GetProbes() != 4 {
		t.Fatalf("candidates %v, summary %v\nnotes:\n%s", rec.cands, sum, rec.notesText())
	}
	for _, c := range rec.cands {
		target := c.GetDashboardUrl() + c.GetGcsAddress()
		w, ok := want[target]
		if !ok {
			t.Fatalf("unexpected candidate %v", c)
		}
		if c.GetStatus() != sdk.StatusUnknown || c.GetAuthRequired() || c.GetAttributes()["verification"] != w.verdict || c.GetClusterId() != "" {
			t.Errorf("%s: candidate %v, want verification %s", target, c, w.verdict)
		}
		if !strings.Contains(rec.notesText(), w.note) {
			t.Errorf("%s: no note %q in\n%s", target, w.note, rec.notesText())
		}
	}
	for _, n := range rec.notes {
		if n.GetLevel() != "warn" {
			t.Errorf("note %v", n)
		}
	}

	// report_unverified = false: notes only.
	d = newTestDiscoverer(t, nil, strings.TrimSuffix(cfg, "}")+`, "report_unverified": false}`)
	rec, sum = discover(t, d, nil)
	if len(rec.cands) != 0 || len(rec.notes) != 4 || sum.GetCandidates() != 0 {
		t.Fatalf("candidates %v summary %v\nnotes:\n%s", rec.cands, sum, rec.notesText())
	}
}

func TestPerClusterTimeout(t *testing.T) {
	slow := newFakeDashboard(t, "disabled", "")
	slow.gate = hang // the requests wait for their own timeout
	fast := newFakeDashboard(t, "disabled", "")
	d := newTestDiscoverer(t, nil, clustersJSON(
		`{"name": "slow", "dashboard_url": "`+slow.url()+`", "timeout_ms": 100}`,
		`{"name": "fast", "dashboard_url": "`+fast.url()+`"}`,
	))
	rec, sum := discover(t, d, nil)
	if len(rec.cands) != 2 || len(sum.GetErrors()) != 0 {
		t.Fatalf("candidates %v summary %v", rec.cands, sum)
	}
	for _, c := range rec.cands {
		switch c.GetAttributes()["static_name"] {
		case "slow":
			if c.GetStatus() != sdk.StatusUnknown || c.GetAttributes()["verification"] != "unreachable" {
				t.Fatalf("slow: %v", c)
			}
		case "fast":
			if c.GetStatus() != sdk.StatusActive {
				t.Fatalf("fast: %v", c)
			}
		}
	}
	if want := `clusters[0] "slow": dashboard ` + slow.url() + ` cannot be verified: GET ` + slow.url() + `/api/authentication_mode: no answer within 100 ms`; !strings.Contains(rec.notesText(), want) {
		t.Fatalf("notes:\n%s\nwant %q", rec.notesText(), want)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	g := newGate()
	var entries []string
	for i := range 5 {
		f := newFakeDashboard(t, "disabled", "")
		f.gate = g.hold
		entries = append(entries, fmt.Sprintf(`{"name": "c%d", "dashboard_url": %q}`, i, f.url()))
	}
	d := newTestDiscoverer(t, nil, `{"concurrency": 2, "clusters": [`+strings.Join(entries, ", ")+`]}`)
	type result struct {
		rec *recorder
		sum *sdk.DiscoverSummary
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec := &recorder{}
		sum, err := d.Discover(context.Background(), &sdk.DiscoverRequest{}, rec)
		done <- result{rec, sum, err}
	}()
	// Two clusters are in flight; each release lets one finish and the
	// next one start.
	<-g.arrived
	<-g.arrived
	for range 3 {
		g.release <- struct{}{}
		<-g.arrived
	}
	g.release <- struct{}{}
	g.release <- struct{}{}
	r := <-done
	if r.err != nil || len(r.rec.cands) != 5 || r.sum.GetCandidates() != 5 {
		t.Fatalf("Discover: %v, %d candidates, summary %v", r.err, len(r.rec.cands), r.sum)
	}
	if m := g.max.Load(); m != 2 {
		t.Fatalf("%d clusters verified at once, want concurrency 2", m)
	}
}

func TestCancellation(t *testing.T) {
	f := newFakeDashboard(t, "disabled", "")
	g := newGate() // never released
	f.gate = g.hold
	d := newTestDiscoverer(t, nil, clustersJSON(`{"dashboard_url": "`+f.url()+`", "timeout_ms": 120000}`))
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	errc := make(chan error, 1)
	go func() {
		_, err := d.Discover(ctx, &sdk.DiscoverRequest{}, rec)
		errc <- err
	}()
	<-g.arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Discover after cancel: %v", err)
	}
	if len(rec.cands) != 0 || len(rec.notes) != 0 {
		t.Fatalf("reported after cancellation: %v %v", rec.cands, rec.notes)
	}
}

func TestRoundBudget(t *testing.T) {
	f := newFakeDashboard(t, "disabled", "")
	f.gate = hang
	d := newTestDiscoverer(t, nil, clustersJSON(`{"dashboard_url": "`+f.url()+`", "timeout_ms": 120000}`))
	rec, sum := discover(t, d, &sdk.DiscoverRequest{TimeoutMs: 200})
	if len(rec.cands) != 0 || len(sum.GetErrors()) != 1 || !strings.Contains(sum.GetErrors()[0], "time budget of 200 ms ran out: 1 of 1 clusters not verified") {
		t.Fatalf("candidates %v summary %v", rec.cands, sum)
	}
}

func TestRequestScope(t *testing.T) {
	f := newFakeDashboard(t, "disabled", "")
	g := newFakeGCS(t, "")
	cfg := clustersJSON(`{"name": "local", "dashboard_url": "`+f.url()+`"}`, `{"name": "gcs", "gcs_address": "`+g.addr+`"}`,
		`{"name": "far", "dashboard_url": "http://ray-head.invalid:8265"}`)
	for _, tc := range []struct {
		name  string
		req   *sdk.DiscoverRequest
		names []string
		note  string
	}{
		{"loopback block", &sdk.DiscoverRequest{Hosts: []string{"127.0.0.0/8"}}, []string{"gcs", "local"}, "1 of 3 configured clusters are outside"},
		{"by port", &sdk.DiscoverRequest{Ports: []uint32{f.port()}}, []string{"local"}, "2 of 3 configured clusters are outside"},
		{"other hosts", &sdk.DiscoverRequest{Hosts: []string{"10.0.0.1", "example.com"}}, nil, "3 of 3 configured clusters are outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDiscoverer(t, nil, cfg)
			rec, _ := discover(t, d, tc.req)
			var names []string
			for _, c := range rec.cands {
				names = append(names, c.GetAttributes()["static_name"])
			}
			if fmt.Sprint(sortedCopy(names)) != fmt.Sprint(tc.names) || !strings.Contains(rec.notesText(), tc.note) {
				t.Fatalf("clusters %v, want %v\nnotes:\n%s", names, tc.names, rec.notesText())
			}
		})
	}
	d := newTestDiscoverer(t, nil, cfg)
	if _, err := d.Discover(context.Background(), &sdk.DiscoverRequest{Hosts: []string{"a b"}}, &recorder{}); err == nil {
		t.Fatal("a request host with a space was accepted")
	}
}

func (f *fakeDashboard) port() uint32 {
	a, err := parseDashboard(f.url())
	if err != nil {
		panic(err)
	}
	return uint32(a.Port)
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestConfigOverridePerCall(t *testing.T) {
	f := newFakeDashboard(t, "disabled", "")
	d := newTestDiscoverer(t, nil, "")
	rec, _ := discover(t, d, &sdk.DiscoverRequest{ConfigJson: []byte(clustersJSON(`{"dashboard_url": "` + f.url() + `"}`))})
	if c := onlyCandidate(t, rec); c.GetStatus() != sdk.StatusActive {
		t.Fatalf("candidate %v", c)
	}
	// The override is for that call only.
	rec, _ = discover(t, d, nil)
	if len(rec.cands) != 0 {
		t.Fatalf("candidates %v", rec.cands)
	}
	if _, err := d.Discover(context.Background(), &sdk.DiscoverRequest{ConfigJson: []byte(`{"concurrency": 0}`)}, &recorder{}); err == nil ||
		!strings.Contains(err.Error(), "config_json: concurrency") {
		t.Fatalf("bad override: %v", err)
	}
}

func TestDashboardFromKV(t *testing.T) {
	v := &verifier{local: func(h string) bool { return h == "127.0.0.1" || h == "192.0.2.9" }}
	for _, tc := range []struct{ gcsHost, kv, url string }{
		{"127.0.0.1", "127.0.0.1:8265", "http://127.0.0.1:8265"},
		{"192.0.2.9", "127.0.0.1:8265", "http://127.0.0.1:8265"}, // this machine's own address
		{"203.0.113.5", "127.0.0.1:8265", ""},                    // a remote head's loopback: not ours
		{"203.0.113.5", "localhost:8265", ""},
		{"203.0.113.5", "0.0.0.0:8265", "http://203.0.113.5:8265"},
		{"ray-head.example", "[::]:8265", "http://ray-head.example:8265"},
		{"203.0.113.5", "203.0.113.5:8265", "http://203.0.113.5:8265"},
		{"203.0.113.5", "junk", ""},
	} {
		if got, _ := v.dashboardFromKV(tc.gcsHost, tc.kv); got != tc.url {
			t.Errorf("GCS %s, KV %s: %q, want %q", tc.gcsHost, tc.kv, got, tc.url)
		}
	}
}

func TestRemoteGCSWithLoopbackDashboard(t *testing.T) {
	g := newFakeGCS(t, "")
	d := newTestDiscoverer(t, nil, clustersJSON(`{"gcs_address": "`+g.addr+`"}`))
	d.isLocal = func(string) bool { return false } // as if the GCS were on another machine
	rec, _ := discover(t, d, nil)
	c := onlyCandidate(t, rec)
	if c.GetDashboardUrl() != "" || c.GetAttributes()["gcs_kv_dashboard"] != "127.0.0.1:8265" || c.GetStatus() != sdk.StatusActive {
		t.Fatalf("candidate %v", c)
	}
}

func TestInfoAndSchema(t *testing.T) {
	d := New(nil)
	info, err := d.Info(context.Background())
	if err != nil || info.GetName() != "static" || info.GetKind() != sdk.KindDiscovery {
		t.Fatalf("info %v %v", info, err)
	}
	s, _ := d.ConfigSchema(context.Background())
	var names []string
	for _, f := range s.GetFields() {
		names = append(names, f.GetName())
	}
	tags := jsonTags(reflect.TypeOf(Config{}))
	if fmt.Sprint(sortedCopy(names)) != fmt.Sprint(sortedCopy(tags)) {
		t.Fatalf("schema %v, Config %v", names, tags)
	}
	ctags := jsonTags(reflect.TypeOf(ClusterSpec{}))
	var known []string
	for k := range clusterKeys {
		known = append(known, k)
	}
	if fmt.Sprint(sortedCopy(ctags)) != fmt.Sprint(sortedCopy(known)) {
		t.Fatalf("clusterKeys %v, ClusterSpec %v", known, ctags)
	}
}

func jsonTags(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

// The plugin answers a request whose sink fails by stopping.
func TestSinkFailure(t *testing.T) {
	f := newFakeDashboard(t, "disabled", "")
	d := newTestDiscoverer(t, nil, clustersJSON(`{"dashboard_url": "`+f.url()+`"}`))
	gone := errors.New("caller went away")
	_, err := d.Discover(context.Background(), &sdk.DiscoverRequest{}, failingSink{gone})
	if !errors.Is(err, gone) {
		t.Fatalf("Discover: %v", err)
	}
}

type failingSink struct{ err error }

func (s failingSink) Candidate(*sdk.ClusterCandidate) error { return s.err }
func (s failingSink) Note(*sdk.DiscoverNote) error          { return s.err }

var _ http.Handler = (*fakeDashboard)(nil)
