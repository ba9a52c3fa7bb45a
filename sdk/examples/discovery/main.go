// Command castray-discovery-my-scan is the example discovery plugin of the README: it
// probes hosts for a Ray dashboard and reports each one that answers.
package main

import (
	"context"
	"net/http"

	"github.com/castray/castray/sdk"
)

// config is the plugin's config block; sdk.Configured derives the schema from it.
type config struct {
	Hosts []string `json:"hosts" castray:"desc=Hosts or CIDR blocks to probe when a request names none"`
	Ports []uint32 `json:"ports" castray:"desc=Dashboard ports to probe when a request names none"`
}

type scan struct{ sdk.Configured[config] } // ConfigSchema and Configure

func (s *scan) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{PluginVersion: "0.1.0", Description: "probes hosts for a Ray dashboard"}, nil
}

func (s *scan) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	return sdk.ProbeEach(ctx, req, s.Config.Hosts, s.Config.Ports, func(ctx context.Context, target string) error {
		url := "http://" + target
		probe, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/version", nil)
		resp, err := http.DefaultClient.Do(probe)
		if err != nil || resp.Body.Close() != nil || resp.StatusCode != http.StatusOK {
			return nil // no dashboard there
		}
		return sink.Candidate(&sdk.ClusterCandidate{DashboardUrl: url, Status: sdk.StatusActive, NodeCount: -1,
			Evidence: []string{"GET " + url + "/api/version → 200"}})
	})
}

func main() {
	defaults := config{Hosts: []string{"127.0.0.1"}, Ports: []uint32{8265}}
	sdk.ServeDiscovery(&scan{sdk.Configured[config]{Config: defaults}})
}
