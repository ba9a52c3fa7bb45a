// Command v1plugin is a discovery plugin written against plugin API v1 as
// the SDK first shipped it, and kept so: it spells out everything (name,
// kind, API versions, a hand-written schema, DecodeConfig into a local
// struct, candidates with their source) the way the README's example did.
// host/pluginmgr's TestV1PluginStillBuildsAndLoads builds it in a module of
// its own against the current SDK and loads it. Do not modernise it: it is
// the promise that v1 plugins keep compiling and loading.
package main

import (
	"context"

	"github.com/castray/castray/sdk"
)

type strategy struct{ hosts []string }

func (s *strategy) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{Name: "v1plugin", Kind: sdk.KindDiscovery, PluginVersion: "0.1.0",
		ApiVersions: []uint32{sdk.APIVersion}}, nil
}
func (s *strategy) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{{Name: "hosts", Type: "list(string)"}}}, nil
}
func (s *strategy) Configure(_ context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	var cfg struct {
		Hosts []string `json:"hosts"`
	}
	if problems := sdk.DecodeConfig(req.GetConfigJson(), &cfg); problems != nil {
		return problems, nil // each names its key
	}
	if req.GetApiVersion() != 1 {
		return []*sdk.ConfigError{{Message: "this plugin speaks API version 1 only"}}, nil
	}
	s.hosts = cfg.Hosts
	return nil, nil
}
func (s *strategy) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	for _, h := range s.hosts {
		err := sink.Candidate(&sdk.ClusterCandidate{Source: "v1plugin", DashboardUrl: "http://" + h + ":8265",
			NodeCount: -1, Status: sdk.StatusUnknown, Evidence: []string{"configured"}})
		if err != nil {
			return nil, err
		}
	}
	return &sdk.DiscoverSummary{Candidates: uint32(len(s.hosts)), Probes: 0}, nil
}

func main() { sdk.ServeDiscovery(&strategy{}) }
