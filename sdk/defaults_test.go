package sdk_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// bare leaves every defaultable field empty: Info names nothing but its
// version, candidates name no source.
type bare struct{ info *sdk.PluginInfo }

func (b *bare) Info(context.Context) (*sdk.PluginInfo, error) { return b.info, nil }
func (b *bare) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{}, nil
}
func (b *bare) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}
func (b *bare) Discover(_ context.Context, _ *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	c := &sdk.ClusterCandidate{DashboardUrl: "http://127.0.0.1:8265"}
	if err := sink.Candidate(c); err != nil {
		return nil, err
	}
	if c.GetSource() != "" {
		return nil, sdk.InvalidArgument(os.ErrInvalid) // the sink changed the plugin's own value
	}
	if err := sink.Candidate(&sdk.ClusterCandidate{Source: "explicit"}); err != nil {
		return nil, err
	}
	return &sdk.DiscoverSummary{Candidates: 2}, nil
}

func TestInfoAndSourceDefaults(t *testing.T) {
	shared := &sdk.PluginInfo{PluginVersion: "0.1.0"}
	client := plugintest.Discovery(t, &bare{info: shared})
	info, err := client.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	self := filepath.Base(os.Args[0]) // the name a plugin binary not named castray-<kind>-<name> gets
	if info.GetName() != self || info.GetKind() != sdk.KindDiscovery || info.GetPluginVersion() != "0.1.0" ||
		!slices.Equal(info.GetApiVersions(), []uint32{sdk.APIVersion}) {
		t.Errorf("info = %v, want name %q, kind discovery, api_versions [%d]", info, self, sdk.APIVersion)
	}
	if shared.GetName() != "" || shared.GetApiVersions() != nil {
		t.Errorf("the plugin's own Info value was changed: %v", shared)
	}

	sink := &plugintest.Sink{}
	if _, err := client.Discover(context.Background(), &sdk.DiscoverRequest{}, sink); err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, c := range sink.Candidates() {
		sources = append(sources, c.GetSource())
	}
	if !slices.Equal(sources, []string{self, "explicit"}) {
		t.Errorf("sources = %q, want [%q explicit]", sources, self)
	}

	// What a plugin states is kept.
	explicit := plugintest.Discovery(t, &bare{info: &sdk.PluginInfo{Name: "n", Kind: sdk.KindDiscovery, ApiVersions: []uint32{1}}})
	if info, err := explicit.Info(context.Background()); err != nil || info.GetName() != "n" || !slices.Equal(info.GetApiVersions(), []uint32{1}) {
		t.Errorf("explicit info = %v, %v", info, err)
	}
	// A nil Info is all defaults.
	if info, err := plugintest.Discovery(t, &bare{}).Info(context.Background()); err != nil || info.GetName() != self {
		t.Errorf("nil info = %v, %v", info, err)
	}
}
