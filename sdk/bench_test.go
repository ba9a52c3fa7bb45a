package sdk_test

import (
	"context"
	"testing"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// benchTransferer answers at once, so a benchmark measures the call path
// (direct, or gRPC in process) and not the work behind it.
type benchTransferer struct{}

func (benchTransferer) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{Name: "bench", Kind: sdk.KindTransfer, PluginVersion: "0.0.0", ApiVersions: []uint32{sdk.APIVersion}}, nil
}

func (benchTransferer) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{}, nil
}

func (benchTransferer) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}

func (benchTransferer) Capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	return &sdk.TransferCapabilities{Modes: []sdk.CastMode{sdk.Unicast, sdk.Multicast, sdk.Broadcast}, NodeKinds: []string{"local"}}, nil
}

func (benchTransferer) Send(_ context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	for _, tg := range req.GetTargets() {
		if err := sink.Progress(&sdk.TargetProgress{NodeId: tg.GetNodeId(), BytesDone: req.GetFile().GetSize(), BytesTotal: req.GetFile().GetSize()}); err != nil {
			return nil, err
		}
		if err := sink.Result(&sdk.TargetResult{NodeId: tg.GetNodeId(), State: sdk.TargetDone, Bytes: req.GetFile().GetSize()}); err != nil {
			return nil, err
		}
	}
	return &sdk.SendSummary{Succeeded: uint32(len(req.GetTargets())), Bytes: req.GetFile().GetSize()}, nil
}

func (benchTransferer) Cancel(context.Context, string) (bool, error) { return false, nil }

type discardSink struct{}

func (discardSink) Progress(*sdk.TargetProgress) error { return nil }
func (discardSink) Result(*sdk.TargetResult) error     { return nil }

var benchCaps *sdk.TransferCapabilities

// BenchmarkCapabilities compares one unary RPC through the real gRPC stub
// (go-plugin's in-process connection) with a direct call on the
// implementation. e2e/bench measures the same call against a real plugin
// process.
func BenchmarkCapabilities(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, tr sdk.Transferer) {
		b.ReportAllocs()
		for b.Loop() {
			caps, err := tr.Capabilities(ctx)
			if err != nil {
				b.Fatal(err)
			}
			benchCaps = caps
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, benchTransferer{}) })
	b.Run("grpc-inprocess", func(b *testing.B) { run(b, plugintest.Transfer(b, benchTransferer{})) })
}

// BenchmarkSendStream compares a Send with one target (a server stream of
// one progress and one result event) over gRPC with a direct call.
func BenchmarkSendStream(b *testing.B) {
	ctx := context.Background()
	req := &sdk.SendRequest{
		TransferId: "bench", Mode: sdk.Unicast,
		File:    &sdk.FileSpec{Path: "/dev/null", Size: 1 << 20, Name: "x"},
		Targets: []*sdk.Target{{NodeId: "node_1", Kind: "local", Attributes: map[string]string{"inbox_dir": "/tmp"}}},
	}
	run := func(b *testing.B, tr sdk.Transferer) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tr.Send(ctx, req, discardSink{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, benchTransferer{}) })
	b.Run("grpc-inprocess", func(b *testing.B) { run(b, plugintest.Transfer(b, benchTransferer{})) })
}
