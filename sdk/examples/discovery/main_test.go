package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// The example over the real gRPC path: configured with a dashboard that
// answers and a port where nothing does, it reports the one dashboard.
func TestExampleFindsADashboard(t *testing.T) {
	ray := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/authentication_mode":
			_, _ = w.Write([]byte(`{"authentication_mode": "disabled"}`))
		case "/api/version":
			_, _ = w.Write([]byte(`{"version": "4", "ray_version": "2.60.0", "session_name": "session_2026-12-01_10-00-00_000001_1"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer ray.Close()
	u, _ := url.Parse(ray.URL)
	closed := httptest.NewServer(http.NotFoundHandler()) // answers, but not as a dashboard
	defer closed.Close()
	c, _ := url.Parse(closed.URL)

	client := plugintest.Discovery(t, &scan{sdk.Configured[config]{Config: config{Hosts: []string{"127.0.0.1"}, Ports: []uint32{8265}}}})
	cfg := []byte(`{"hosts": ["127.0.0.1"], "ports": [` + u.Port() + `, ` + c.Port() + `]}`)
	if problems, err := client.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: cfg, ApiVersion: sdk.APIVersion}); err != nil || problems != nil {
		t.Fatalf("Configure: %v %v", problems, err)
	}
	sink := &plugintest.Sink{}
	sum, err := client.Discover(context.Background(), &sdk.DiscoverRequest{ProbeTimeoutMs: 2000}, sink)
	if err != nil {
		t.Fatal(err)
	}
	got := sink.Candidates()
	if len(got) != 1 || got[0].GetDashboardUrl() != ray.URL || got[0].GetStatus() != sdk.StatusActive ||
		got[0].GetSource() != filepath.Base(os.Args[0]) || got[0].GetRayVersion() != "2.60.0" ||
		got[0].GetSessionName() != "session_2026-12-01_10-00-00_000001_1" {
		t.Fatalf("candidates = %v, want one active at %s", got, ray.URL)
	}
	if sum.GetProbes() != 2 || sum.GetCandidates() != 1 {
		t.Errorf("summary = %v, want 2 probes, 1 candidate", sum)
	}

	// Every configuration problem at once, each naming its key.
	problems, err := client.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(`{"hosts": "x", "port": 1}`)})
	if err != nil || sdk.ConfigErrorsString(problems) != "hosts: expected list(string), got string; port: unknown key" {
		t.Errorf("Configure(bad) = %v, %v", problems, err)
	}

	schema, err := client.ConfigSchema(context.Background())
	if err != nil || len(schema.GetFields()) != 2 || schema.GetFields()[1].GetDefaultJson() != "[8265]" {
		t.Errorf("schema = %v, %v", schema, err)
	}
}

// The README's Go example is this file, verbatim: the guide's first Go code
// block must equal main.go, so the example readers copy is the one that is
// built and tested.
func TestREADMEExampleIsThisFile(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	block := readmeBlock(string(readme), "## Writing a plugin", "```go\n")
	if block == "" {
		t.Fatal("README.md: no ```go block under \"## Writing a plugin\"")
	}
	if block != string(want) {
		t.Errorf("README.md's example differs from sdk/examples/discovery/main.go; copy the file into the README.\nREADME:\n%s", block)
	}
}

// readmeBlock returns the first fenced block opened by fence after the
// heading, without the fences.
func readmeBlock(doc, heading, fence string) string {
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		return ""
	}
	rest := doc[i:]
	j := strings.Index(rest, "\n"+fence)
	if j < 0 {
		return ""
	}
	rest = rest[j+1+len(fence):]
	k := strings.Index(rest, "\n```\n")
	if k < 0 {
		return ""
	}
	return rest[:k+1]
}
