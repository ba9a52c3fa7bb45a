package sdk

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	castrayv1 "github.com/castray/castray/sdk/proto/castray/v1"
)

// The go-plugin adapters. On the plugin's side GRPCServer registers a thin
// server that forwards each RPC to the Go implementation; on the daemon's
// side GRPCClient returns a stub that satisfies the same Go interface, so
// neither side sees gRPC.

// basePlugin serves and dispenses the base Plugin service.
type basePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl   Plugin
	server *pluginServer // on the plugin's side
}

func (p *basePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	castrayv1.RegisterPluginServer(s, p.server)
	return nil
}

func (p *basePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &pluginClient{c: castrayv1.NewPluginClient(c)}, nil
}

// discoveryPlugin serves and dispenses the Discovery service.
type discoveryPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Discoverer
	info *pluginServer // on the plugin's side: the source of defaults
}

func (p *discoveryPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	castrayv1.RegisterDiscoveryServer(s, &discoveryServer{impl: p.impl, info: p.info})
	return nil
}

func (p *discoveryPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &discoveryClient{
		pluginClient: pluginClient{c: castrayv1.NewPluginClient(c)},
		c:            castrayv1.NewDiscoveryClient(c),
	}, nil
}

// transferPlugin serves and dispenses the Transfer service.
type transferPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Transferer
}

func (p *transferPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	castrayv1.RegisterTransferServer(s, &transferServer{impl: p.impl})
	return nil
}

func (p *transferPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &transferClient{
		pluginClient: pluginClient{c: castrayv1.NewPluginClient(c)},
		c:            castrayv1.NewTransferClient(c),
	}, nil
}

// ClientPluginSet is the versioned plugin set the daemon uses to dispense
// any plugin: one set per version in APIVersions, all offered at once so
// that go-plugin picks the highest version the plugin serves too. Dispense
// PluginSetBase first, read the kind from Info, then dispense the kind's
// entry, which returns a Discoverer or a Transferer.
func ClientPluginSet() map[int]plugin.PluginSet {
	sets := map[int]plugin.PluginSet{}
	for _, v := range APIVersions() {
		// Every version so far is version 1 on the wire; a later one that
		// changes a message gets adapters of its own here.
		sets[v] = plugin.PluginSet{
			PluginSetBase:      &basePlugin{},
			PluginSetDiscovery: &discoveryPlugin{},
			PluginSetTransfer:  &transferPlugin{},
		}
	}
	return sets
}

// --- base service -------------------------------------------------------

type pluginServer struct {
	castrayv1.UnimplementedPluginServer
	impl     Plugin
	kind     PluginKind // impl's kind
	versions []int      // the API versions served
}

func (s *pluginServer) GetInfo(ctx context.Context, _ *castrayv1.GetInfoRequest) (*castrayv1.PluginInfo, error) {
	info, err := s.info(ctx)
	return info, statusError(err)
}

// info is the implementation's Info with what it leaves empty filled in:
// the kind from the interface it implements, the name from the executable
// (see defaultName) and the API versions from those served.
func (s *pluginServer) info(ctx context.Context) (*PluginInfo, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info == nil {
		info = &PluginInfo{}
	} else {
		info = proto.Clone(info).(*PluginInfo) // the implementation's value may be shared
	}
	if info.GetKind() == castrayv1.PluginKind_PLUGIN_KIND_UNSPECIFIED {
		info.Kind = s.kind
	}
	if info.GetName() == "" {
		info.Name = defaultName(info.GetKind())
	}
	if len(info.GetApiVersions()) == 0 {
		for _, v := range s.versions {
			info.ApiVersions = append(info.ApiVersions, uint32(v))
		}
	}
	return info, nil
}

func (s *pluginServer) GetConfigSchema(ctx context.Context, _ *castrayv1.GetConfigSchemaRequest) (*castrayv1.ConfigSchema, error) {
	schema, err := s.impl.ConfigSchema(ctx)
	return schema, statusError(err)
}

func (s *pluginServer) Configure(ctx context.Context, req *castrayv1.ConfigureRequest) (*castrayv1.ConfigureResponse, error) {
	problems, err := s.impl.Configure(ctx, req)
	if err != nil {
		return nil, statusError(err)
	}
	return &castrayv1.ConfigureResponse{Errors: problems}, nil
}

type pluginClient struct{ c castrayv1.PluginClient }

func (p *pluginClient) Info(ctx context.Context) (*PluginInfo, error) {
	info, err := p.c.GetInfo(ctx, &castrayv1.GetInfoRequest{})
	return info, wireError("GetInfo", err)
}

func (p *pluginClient) ConfigSchema(ctx context.Context) (*ConfigSchema, error) {
	schema, err := p.c.GetConfigSchema(ctx, &castrayv1.GetConfigSchemaRequest{})
	return schema, wireError("GetConfigSchema", err)
}

func (p *pluginClient) Configure(ctx context.Context, req *ConfigureRequest) ([]*ConfigError, error) {
	resp, err := p.c.Configure(ctx, req)
	if err != nil {
		return nil, wireError("Configure", err)
	}
	return resp.GetErrors(), nil
}

// --- discovery ----------------------------------------------------------

type discoveryServer struct {
	castrayv1.UnimplementedDiscoveryServer
	impl Discoverer
	info *pluginServer // nil: no defaults

	nameOnce sync.Once
	name     string
}

// source is the default ClusterCandidate.source: the plugin's name, as
// GetInfo reports it (empty if Info fails).
func (s *discoveryServer) source(ctx context.Context) string {
	s.nameOnce.Do(func() {
		if s.info == nil {
			return
		}
		if info, err := s.info.info(ctx); err == nil {
			s.name = info.GetName()
		}
	})
	return s.name
}

// streamDiscoverSink sends what the implementation finds down the stream.
// A gRPC stream takes one Send at a time, so the sink serialises them: it is
// safe for concurrent use, as DiscoverSink promises, and plugins need no
// lock of their own. After a failed Send every call returns that error, and
// once Discover has returned every call fails with errDiscoverReturned
// instead of writing to a finished stream.
type streamDiscoverSink struct {
	mu     sync.Mutex
	stream grpc.ServerStreamingServer[castrayv1.DiscoverEvent]
	err    error // the first failed Send, or errDiscoverReturned
	// source, when set, names the plugin in candidates that name no source.
	source func() string
	sent   uint32 // candidates sent
}

// errDiscoverReturned is what a plugin's goroutine gets when it reports
// after its Discover call has returned.
var errDiscoverReturned = errors.New("DiscoverSink used after Discover returned")

func (s *streamDiscoverSink) send(ev *castrayv1.DiscoverEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if err := s.stream.Send(ev); err != nil {
		s.err = err
	} else if _, ok := ev.Event.(*castrayv1.DiscoverEvent_Candidate); ok {
		s.sent++
	}
	return s.err
}

// close ends the sink: later calls fail. ev, if not nil, is sent first (the
// summary), after any call still in progress.
func (s *streamDiscoverSink) close(ev *castrayv1.DiscoverEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	if err == nil && ev != nil {
		err = s.stream.Send(ev)
	}
	s.err = errDiscoverReturned
	return err
}

func (s *streamDiscoverSink) Candidate(c *ClusterCandidate) error {
	if c != nil && c.GetSource() == "" && s.source != nil {
		c = proto.Clone(c).(*ClusterCandidate) // the caller keeps its value
		c.Source = s.source()
	}
	return s.send(&castrayv1.DiscoverEvent{Event: &castrayv1.DiscoverEvent_Candidate{Candidate: c}})
}

func (s *streamDiscoverSink) Note(n *DiscoverNote) error {
	return s.send(&castrayv1.DiscoverEvent{Event: &castrayv1.DiscoverEvent_Note{Note: n}})
}

func (s *discoveryServer) Discover(req *castrayv1.DiscoverRequest, stream grpc.ServerStreamingServer[castrayv1.DiscoverEvent]) error {
	ctx, start := stream.Context(), time.Now()
	sink := &streamDiscoverSink{stream: stream, source: func() string { return s.source(ctx) }}
	summary, err := s.impl.Discover(stream.Context(), req, sink)
	if err != nil {
		_ = sink.close(nil)
		return statusError(err)
	}
	// What the summary leaves at zero, the SDK knows: the candidates
	// streamed and the time taken.
	if summary == nil {
		summary = &DiscoverSummary{}
	} else {
		summary = proto.Clone(summary).(*DiscoverSummary)
	}
	sink.mu.Lock()
	if summary.GetCandidates() == 0 {
		summary.Candidates = sink.sent
	}
	sink.mu.Unlock()
	if summary.GetElapsedMs() == 0 {
		summary.ElapsedMs = uint32(time.Since(start).Milliseconds())
	}
	return sink.close(&castrayv1.DiscoverEvent{Event: &castrayv1.DiscoverEvent_Summary{Summary: summary}})
}

type discoveryClient struct {
	pluginClient
	c castrayv1.DiscoveryClient
}

func (d *discoveryClient) Discover(ctx context.Context, req *DiscoverRequest, sink DiscoverSink) (*DiscoverSummary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := d.c.Discover(ctx, req)
	if err != nil {
		return nil, wireError("Discover", err)
	}
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			return nil, errors.New("Discover: plugin ended the stream without a summary")
		}
		if err != nil {
			return nil, wireError("Discover", err)
		}
		switch e := ev.Event.(type) {
		case *castrayv1.DiscoverEvent_Candidate:
			err = sink.Candidate(e.Candidate)
		case *castrayv1.DiscoverEvent_Note:
			err = sink.Note(e.Note)
		case *castrayv1.DiscoverEvent_Summary:
			return e.Summary, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// --- transfer -----------------------------------------------------------

type transferServer struct {
	castrayv1.UnimplementedTransferServer
	impl Transferer
}

func (s *transferServer) Capabilities(ctx context.Context, _ *castrayv1.CapabilitiesRequest) (*castrayv1.TransferCapabilities, error) {
	caps, err := s.impl.Capabilities(ctx)
	return caps, statusError(err)
}

type streamTransferSink struct {
	stream grpc.ServerStreamingServer[castrayv1.TransferEvent]
}

func (s streamTransferSink) Progress(p *TargetProgress) error {
	return s.stream.Send(&castrayv1.TransferEvent{Event: &castrayv1.TransferEvent_Progress{Progress: p}})
}

func (s streamTransferSink) Result(r *TargetResult) error {
	return s.stream.Send(&castrayv1.TransferEvent{Event: &castrayv1.TransferEvent_Result{Result: r}})
}

func (s *transferServer) Send(req *castrayv1.SendRequest, stream grpc.ServerStreamingServer[castrayv1.TransferEvent]) error {
	summary, err := s.impl.Send(stream.Context(), req, streamTransferSink{stream: stream})
	if err != nil {
		return statusError(err)
	}
	if summary == nil {
		summary = &SendSummary{}
	}
	return stream.Send(&castrayv1.TransferEvent{Event: &castrayv1.TransferEvent_Summary{Summary: summary}})
}

func (s *transferServer) Cancel(ctx context.Context, req *castrayv1.CancelRequest) (*castrayv1.CancelResponse, error) {
	var ok bool
	var err error
	if nodes := req.GetNodeIds(); len(nodes) > 0 {
		tc, can := s.impl.(TargetCanceller)
		if !can {
			return nil, status.Error(codes.Unimplemented, "this backend cannot cancel single targets")
		}
		ok, err = tc.CancelTargets(ctx, req.GetTransferId(), nodes)
	} else {
		ok, err = s.impl.Cancel(ctx, req.GetTransferId())
	}
	if err != nil {
		return nil, statusError(err)
	}
	return &castrayv1.CancelResponse{Cancelled: ok}, nil
}

type transferClient struct {
	pluginClient
	c castrayv1.TransferClient
}

func (t *transferClient) Capabilities(ctx context.Context) (*TransferCapabilities, error) {
	caps, err := t.c.Capabilities(ctx, &castrayv1.CapabilitiesRequest{})
	return caps, wireError("Capabilities", err)
}

func (t *transferClient) Send(ctx context.Context, req *SendRequest, sink TransferSink) (*SendSummary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := t.c.Send(ctx, req)
	if err != nil {
		return nil, wireError("Send", err)
	}
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			return nil, errors.New("Send: plugin ended the stream without a summary")
		}
		if err != nil {
			return nil, wireError("Send", err)
		}
		switch e := ev.Event.(type) {
		case *castrayv1.TransferEvent_Progress:
			err = sink.Progress(e.Progress)
		case *castrayv1.TransferEvent_Result:
			err = sink.Result(e.Result)
		case *castrayv1.TransferEvent_Summary:
			return e.Summary, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (t *transferClient) Cancel(ctx context.Context, transferID string) (bool, error) {
	return t.cancel(ctx, &castrayv1.CancelRequest{TransferId: transferID})
}

// CancelTargets implements TargetCanceller; a backend without it answers
// ErrUnsupported.
func (t *transferClient) CancelTargets(ctx context.Context, transferID string, nodeIDs []string) (bool, error) {
	return t.cancel(ctx, &castrayv1.CancelRequest{TransferId: transferID, NodeIds: nodeIDs})
}

func (t *transferClient) cancel(ctx context.Context, req *castrayv1.CancelRequest) (bool, error) {
	resp, err := t.c.Cancel(ctx, req)
	if err != nil {
		return false, wireError("Cancel", err)
	}
	return resp.GetCancelled(), nil
}
