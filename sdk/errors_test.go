package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// failing has the calls of both kinds of plugin, and they fail with err;
// the streaming calls report one event first, so the error ends a stream
// that has started. failingDiscoverer and failingTransferer serve one kind.
type failing struct{ err error }

type failingDiscoverer struct{ failing }

func (f *failingDiscoverer) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	return f.failing.discover(ctx, req, sink)
}

type failingTransferer struct{ failing }

func (f *failingTransferer) Capabilities(ctx context.Context) (*sdk.TransferCapabilities, error) {
	return f.failing.capabilities(ctx)
}
func (f *failingTransferer) Send(ctx context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	return f.failing.send(ctx, req, sink)
}
func (f *failingTransferer) Cancel(context.Context, string) (bool, error) { return false, f.err }

func (f *failing) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{Name: "failing", ApiVersions: []uint32{sdk.APIVersion}}, nil
}
func (f *failing) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{}, nil
}
func (f *failing) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, f.err
}
func (f *failing) discover(_ context.Context, _ *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	if err := sink.Note(&sdk.DiscoverNote{Message: "started"}); err != nil {
		return nil, err
	}
	return nil, f.err
}
func (f *failing) capabilities(context.Context) (*sdk.TransferCapabilities, error) {
	return nil, f.err
}
func (f *failing) send(_ context.Context, _ *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	if err := sink.Progress(&sdk.TargetProgress{NodeId: "a"}); err != nil {
		return nil, err
	}
	return nil, f.err
}

var errorKinds = []error{sdk.ErrInvalidArgument, sdk.ErrUnsupported, sdk.ErrPluginUnavailable, sdk.ErrInternal}

func TestErrorKindsCrossTheWire(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error  // what the plugin returns
		kind error  // what errors.Is finds on the daemon's side
		msg  string // the daemon's message after "<call>: "
	}{
		{"InvalidArgument helper", sdk.InvalidArgument(errors.New("port 70000 out of range")),
			sdk.ErrInvalidArgument, "invalid argument: port 70000 out of range"},
		{"invalid argument wrapped", fmt.Errorf("bad host %q: %w", "x:y:z", sdk.ErrInvalidArgument),
			sdk.ErrInvalidArgument, `bad host "x:y:z": invalid argument`},
		{"Unsupported helper", sdk.Unsupported(errors.New("multicast needs root")),
			sdk.ErrUnsupported, "not supported by this plugin: multicast needs root"},
		{"unsupported wrapped", fmt.Errorf("mode multicast: %w", sdk.ErrUnsupported),
			sdk.ErrUnsupported, "mode multicast: not supported by this plugin"},
		{"Unavailable helper", sdk.Unavailable(errors.New("storage at s3://b unreachable")),
			sdk.ErrPluginUnavailable, "plugin unavailable (exited or shutting down): storage at s3://b unreachable"},
		{"Internal helper", sdk.Internal(errors.New("index corrupt")),
			sdk.ErrInternal, "index corrupt"},
		{"no kind is internal", errors.New("disk full at /inbox"),
			sdk.ErrInternal, "disk full at /inbox"},
		{"outer kind wins", sdk.Internal(fmt.Errorf("decoding reply: %w", sdk.ErrInvalidArgument)),
			sdk.ErrInternal, "decoding reply: invalid argument"},
		{"plugin's own status passes", status.Error(codes.InvalidArgument, "from a backend"),
			sdk.ErrInvalidArgument, "invalid argument: from a backend"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disc := plugintest.Discovery(t, &failingDiscoverer{failing{err: tc.err}})
			tr := plugintest.Transfer(t, &failingTransferer{failing{err: tc.err}})
			ctx := context.Background()
			for _, call := range []struct {
				name string
				do   func() error
			}{
				{"Configure", func() error { _, err := disc.Configure(ctx, &sdk.ConfigureRequest{}); return err }},
				{"Capabilities", func() error { _, err := tr.Capabilities(ctx); return err }},
				{"Discover", func() error { _, err := disc.Discover(ctx, &sdk.DiscoverRequest{}, &collect{}); return err }},
				{"Send", func() error { _, err := tr.Send(ctx, &sdk.SendRequest{}, &transferCollect{}); return err }},
			} {
				err := call.do()
				if err == nil {
					t.Fatalf("%s: no error", call.name)
				}
				for _, k := range errorKinds {
					if got := errors.Is(err, k); got != (k == tc.kind) {
						t.Errorf("%s: errors.Is(%v, %q) = %v", call.name, err, k, got)
					}
				}
				if want := call.name + ": " + tc.msg; err.Error() != want {
					t.Errorf("%s: message\n got %q\nwant %q", call.name, err.Error(), want)
				}
			}
		})
	}
}

func TestErrorKindHelpers(t *testing.T) {
	base := errors.New("port 70000 out of range")
	err := sdk.InvalidArgument(base)
	if !errors.Is(err, sdk.ErrInvalidArgument) || !errors.Is(err, base) || err.Error() != base.Error() {
		t.Errorf("InvalidArgument(base) = %v: want both kind and base, base's message", err)
	}
	for _, k := range []func(error) error{sdk.InvalidArgument, sdk.Unsupported, sdk.Unavailable, sdk.Internal} {
		if k(nil) != nil {
			t.Error("a kind helper given nil must return nil")
		}
	}
}

// A context error keeps its meaning even when the plugin also gave it a
// kind, and a plugin's Unimplemented from the stub keeps meaning unsupported.
func TestContextAndUnimplementedStayAsBefore(t *testing.T) {
	tr := plugintest.Transfer(t, &failingTransferer{failing{err: sdk.Unavailable(fmt.Errorf("waiting: %w", context.DeadlineExceeded))}})
	if _, err := tr.Send(context.Background(), &sdk.SendRequest{}, &transferCollect{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send: err = %v, want context.DeadlineExceeded", err)
	}
	// failingTransferer does not implement TargetCanceller: the server answers
	// Unimplemented for CancelTargets.
	tc := tr.(sdk.TargetCanceller)
	_, err := tc.CancelTargets(context.Background(), "t", []string{"a"})
	if !errors.Is(err, sdk.ErrUnsupported) || errors.Is(err, sdk.ErrInternal) {
		t.Errorf("CancelTargets: err = %v, want ErrUnsupported", err)
	}
	if want := "Cancel: not supported by this plugin: this backend cannot cancel single targets"; err.Error() != want {
		t.Errorf("CancelTargets: message %q, want %q", err.Error(), want)
	}
}
