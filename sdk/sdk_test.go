package sdk_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// testDiscoverer emits the candidates it is given and then, if block is
// set, waits for cancellation, recording that it saw it.
type testDiscoverer struct {
	candidates []*sdk.ClusterCandidate
	block      bool
	cancelled  atomic.Bool
	configured atomic.Pointer[sdk.ConfigureRequest]
}

func (d *testDiscoverer) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{Name: "test", Kind: sdk.KindDiscovery, PluginVersion: "0.1.0", ApiVersions: []uint32{sdk.APIVersion}}, nil
}

func (d *testDiscoverer) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{{Name: "hosts", Type: "list(string)"}}}, nil
}

func (d *testDiscoverer) Configure(_ context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	var cfg struct {
		Hosts []string `json:"hosts"`
	}
	if problems := sdk.DecodeConfig(req.GetConfigJson(), &cfg); problems != nil {
		return problems, nil
	}
	d.configured.Store(req)
	return nil, nil
}

func (d *testDiscoverer) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	if err := sink.Note(&sdk.DiscoverNote{Level: "info", Message: "scanning", Target: "127.0.0.1"}); err != nil {
		return nil, err
	}
	for _, c := range d.candidates {
		if err := sink.Candidate(c); err != nil {
			return nil, err
		}
	}
	if d.block {
		<-ctx.Done()
		d.cancelled.Store(true)
		return nil, ctx.Err()
	}
	return &sdk.DiscoverSummary{Candidates: uint32(len(d.candidates)), Probes: 7}, nil
}

type collect struct {
	candidates []*sdk.ClusterCandidate
	notes      []*sdk.DiscoverNote
}

func (c *collect) Candidate(x *sdk.ClusterCandidate) error {
	c.candidates = append(c.candidates, x)
	return nil
}
func (c *collect) Note(x *sdk.DiscoverNote) error { c.notes = append(c.notes, x); return nil }

func TestDiscoveryOverGRPC(t *testing.T) {
	impl := &testDiscoverer{candidates: []*sdk.ClusterCandidate{
		{Source: "test", GcsAddress: "127.0.0.1:6379", DashboardUrl: "http://127.0.0.1:8265", NodeCount: 3,
			ResourcesTotal: map[string]float64{"CPU": 8}, Status: sdk.StatusActive, AuthRequired: true},
		{Source: "test", SessionName: "session_x", Status: sdk.StatusInactive, NodeCount: -1},
	}}
	client := plugintest.Discovery(t, impl)
	ctx := context.Background()

	info, err := client.Info(ctx)
	if err != nil || info.GetName() != "test" || info.GetKind() != sdk.KindDiscovery {
		t.Fatalf("Info = %v, %v", info, err)
	}
	schema, err := client.ConfigSchema(ctx)
	if err != nil || len(schema.GetFields()) != 1 || schema.GetFields()[0].GetName() != "hosts" {
		t.Fatalf("ConfigSchema = %v, %v", schema, err)
	}

	problems, err := client.Configure(ctx, &sdk.ConfigureRequest{ConfigJson: []byte(`{"hosts": "not-a-list"}`)})
	if err != nil || len(problems) != 1 || problems[0].GetKey() != "hosts" {
		t.Fatalf("Configure(bad) = %v, %v; want one error naming hosts", problems, err)
	}
	problems, err = client.Configure(ctx, &sdk.ConfigureRequest{ConfigJson: []byte(`{"hostz": []}`)})
	if err != nil || len(problems) != 1 || problems[0].GetKey() != "hostz" {
		t.Fatalf("Configure(unknown key) = %v, %v; want one error naming hostz", problems, err)
	}
	problems, err = client.Configure(ctx, &sdk.ConfigureRequest{ConfigJson: []byte(`{"hosts": ["10.0.0.1"]}`), DataDir: "/d"})
	if err != nil || len(problems) != 0 || impl.configured.Load().GetDataDir() != "/d" {
		t.Fatalf("Configure(good) = %v, %v", problems, err)
	}

	var got collect
	summary, err := client.Discover(ctx, &sdk.DiscoverRequest{Hosts: []string{"127.0.0.1"}}, &got)
	if err != nil {
		t.Fatal(err)
	}
	if summary.GetCandidates() != 2 || summary.GetProbes() != 7 {
		t.Errorf("summary = %v", summary)
	}
	if len(got.candidates) != 2 || got.candidates[0].GetGcsAddress() != "127.0.0.1:6379" ||
		got.candidates[0].GetResourcesTotal()["CPU"] != 8 || !got.candidates[0].GetAuthRequired() ||
		got.candidates[1].GetStatus() != sdk.StatusInactive {
		t.Errorf("candidates = %v", got.candidates)
	}
	if len(got.notes) != 1 || got.notes[0].GetMessage() != "scanning" {
		t.Errorf("notes = %v", got.notes)
	}
}

func TestDiscoverCancellationReachesPlugin(t *testing.T) {
	impl := &testDiscoverer{block: true}
	client := plugintest.Discovery(t, impl)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := client.Discover(ctx, &sdk.DiscoverRequest{}, &collect{})
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a context error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !impl.cancelled.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the plugin's Discover never saw the cancellation")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failingSink makes the daemon side stop reading: the error must come back
// to the caller unchanged.
type failingSink struct{ collect }

var errStop = errors.New("caller gone")

func (f *failingSink) Candidate(*sdk.ClusterCandidate) error { return errStop }

func TestDiscoverSinkErrorStopsCall(t *testing.T) {
	client := plugintest.Discovery(t, &testDiscoverer{candidates: []*sdk.ClusterCandidate{{Source: "a"}}})
	if _, err := client.Discover(context.Background(), &sdk.DiscoverRequest{}, &failingSink{}); !errors.Is(err, errStop) {
		t.Fatalf("err = %v, want errStop", err)
	}
}

type testTransferer struct {
	failWith error
	running  chan struct{}
}

func (t *testTransferer) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{Name: "tt", Kind: sdk.KindTransfer, ApiVersions: []uint32{1}}, nil
}
func (t *testTransferer) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{}, nil
}
func (t *testTransferer) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}
func (t *testTransferer) Capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	return &sdk.TransferCapabilities{Modes: []sdk.CastMode{sdk.Unicast, sdk.Broadcast}, NodeKinds: []string{"local"}}, nil
}
func (t *testTransferer) Send(ctx context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	if t.failWith != nil {
		return nil, t.failWith
	}
	if t.running != nil {
		close(t.running)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	for _, tg := range req.GetTargets() {
		if err := sink.Progress(&sdk.TargetProgress{NodeId: tg.GetNodeId(), BytesDone: 1, BytesTotal: req.GetFile().GetSize()}); err != nil {
			return nil, err
		}
		if err := sink.Result(&sdk.TargetResult{NodeId: tg.GetNodeId(), State: sdk.TargetDone, Bytes: req.GetFile().GetSize()}); err != nil {
			return nil, err
		}
	}
	return &sdk.SendSummary{Succeeded: uint32(len(req.GetTargets())), Bytes: req.GetFile().GetSize()}, nil
}
func (t *testTransferer) Cancel(_ context.Context, id string) (bool, error) {
	return id == "running", nil
}

type transferCollect struct {
	progress []*sdk.TargetProgress
	results  []*sdk.TargetResult
}

func (c *transferCollect) Progress(p *sdk.TargetProgress) error {
	c.progress = append(c.progress, p)
	return nil
}
func (c *transferCollect) Result(r *sdk.TargetResult) error {
	c.results = append(c.results, r)
	return nil
}

func TestTransferOverGRPC(t *testing.T) {
	client := plugintest.Transfer(t, &testTransferer{})
	ctx := context.Background()
	caps, err := client.Capabilities(ctx)
	if err != nil || len(caps.GetModes()) != 2 || caps.GetNodeKinds()[0] != "local" {
		t.Fatalf("Capabilities = %v, %v", caps, err)
	}
	var got transferCollect
	summary, err := client.Send(ctx, &sdk.SendRequest{
		TransferId: "t1", File: &sdk.FileSpec{Path: "/x", Size: 10, Sha256: "ab", Name: "x"},
		Targets: []*sdk.Target{{NodeId: "a"}, {NodeId: "b"}}, Mode: sdk.Multicast,
	}, &got)
	if err != nil || summary.GetSucceeded() != 2 || summary.GetBytes() != 10 {
		t.Fatalf("Send = %v, %v", summary, err)
	}
	if len(got.progress) != 2 || len(got.results) != 2 || got.results[1].GetNodeId() != "b" {
		t.Errorf("events: %v %v", got.progress, got.results)
	}
	if ok, err := client.Cancel(ctx, "running"); err != nil || !ok {
		t.Errorf("Cancel(running) = %v, %v", ok, err)
	}
	if ok, err := client.Cancel(ctx, "other"); err != nil || ok {
		t.Errorf("Cancel(other) = %v, %v", ok, err)
	}
}

func TestTransferErrorsKeepTheirMeaning(t *testing.T) {
	client := plugintest.Transfer(t, &testTransferer{failWith: errors.New("disk full at /inbox")})
	_, err := client.Send(context.Background(), &sdk.SendRequest{}, &transferCollect{})
	if err == nil || err.Error() != "Send: disk full at /inbox" {
		t.Fatalf("err = %v", err)
	}
	client = plugintest.Transfer(t, &testTransferer{failWith: sdk.ErrUnsupported})
	if _, err := client.Send(context.Background(), &sdk.SendRequest{}, &transferCollect{}); !errors.Is(err, sdk.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}

func TestSendCancelledByContext(t *testing.T) {
	impl := &testTransferer{running: make(chan struct{})}
	client := plugintest.Transfer(t, impl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := client.Send(ctx, &sdk.SendRequest{TransferId: "x"}, &transferCollect{})
		done <- err
	}()
	<-impl.running
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not return after cancel")
	}
}

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		Ports   []int  `json:"ports"`
		Timeout string `json:"timeout"`
	}
	for _, tc := range []struct {
		in, key string
		ok      bool
	}{
		{``, "", true},
		{`{"ports": [1, 2]}`, "", true},
		{`{"ports": ["a"]}`, "ports", false},
		{`{"bogus": 1}`, "bogus", false},
		{`{"ports": [1]} {}`, "", false},
		{`[1]`, "", false},
	} {
		var c cfg
		problems := sdk.DecodeConfig([]byte(tc.in), &c)
		if tc.ok != (len(problems) == 0) {
			t.Errorf("%q: problems = %v", tc.in, problems)
			continue
		}
		if !tc.ok && tc.key != "" && problems[0].GetKey() != tc.key {
			t.Errorf("%q: key = %q, want %q", tc.in, problems[0].GetKey(), tc.key)
		}
	}
}
