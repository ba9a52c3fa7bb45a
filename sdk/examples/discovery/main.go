// Command castray-discovery-my-scan is the example discovery plugin of the README: it
// probes hosts with the SDK's Ray kit and reports each Ray dashboard, GCS or client
// server that answers.
package main

import (
	"context"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
)

// config is the plugin's config block; sdk.Configured derives the schema from it.
type config struct {
	Hosts []string `json:"hosts" castray:"desc=Hosts or CIDR blocks to probe when a request names none"`
	Ports []uint32 `json:"ports" castray:"desc=Ports to probe when a request names none"`
}

type scan struct{ sdk.Configured[config] } // ConfigSchema and Configure

func (s *scan) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{PluginVersion: "0.1.0", Description: "probes hosts for Ray"}, nil
}

func (s *scan) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	return sdk.ProbeEach(ctx, req, s.Config.Hosts, s.Config.Ports, func(ctx context.Context, host string, port int) error {
		found, err := ray.Probe(ctx, host, port, ray.ProbeOptions{Expect: ray.KindDashboard}) // the SDK's Ray kit
		if c := sdk.CandidateFrom(found); err == nil && c != nil {
			return sink.Candidate(c)
		}
		return nil // nothing there, or not Ray
	})
}

func main() {
	defaults := config{Hosts: []string{"127.0.0.1"}, Ports: []uint32{8265}}
	sdk.ServeDiscovery(&scan{sdk.Configured[config]{Config: defaults}})
}
