package pluginmgr

import (
	"context"

	"github.com/castray/castray/sdk"
)

// The proxies hand callers a plugin that survives relaunches: each call
// takes the instance's current implementation, or fails at once with
// sdk.ErrPluginUnavailable while the plugin is down.

type baseProxy struct{ i *instance }

func (p baseProxy) Info(ctx context.Context) (*sdk.PluginInfo, error) {
	impl, err := p.i.current()
	if err != nil {
		return nil, err
	}
	return impl.Info(ctx)
}

func (p baseProxy) ConfigSchema(ctx context.Context) (*sdk.ConfigSchema, error) {
	impl, err := p.i.current()
	if err != nil {
		return nil, err
	}
	return impl.ConfigSchema(ctx)
}

func (p baseProxy) Configure(ctx context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	impl, err := p.i.current()
	if err != nil {
		return nil, err
	}
	return impl.Configure(ctx, req)
}

type transferProxy struct{ i *instance }

func (p transferProxy) impl() (sdk.Transferer, error) {
	impl, err := p.i.current()
	if err != nil {
		return nil, err
	}
	return impl.(sdk.Transferer), nil
}

func (p transferProxy) Info(ctx context.Context) (*sdk.PluginInfo, error) {
	return baseProxy(p).Info(ctx)
}

func (p transferProxy) ConfigSchema(ctx context.Context) (*sdk.ConfigSchema, error) {
	return baseProxy(p).ConfigSchema(ctx)
}

func (p transferProxy) Configure(ctx context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return baseProxy(p).Configure(ctx, req)
}

func (p transferProxy) Capabilities(ctx context.Context) (*sdk.TransferCapabilities, error) {
	impl, err := p.impl()
	if err != nil {
		return nil, err
	}
	return impl.Capabilities(ctx)
}

func (p transferProxy) Send(ctx context.Context, req *sdk.SendRequest, sink sdk.TransferSink) (*sdk.SendSummary, error) {
	impl, err := p.impl()
	if err != nil {
		return nil, err
	}
	return impl.Send(ctx, req, sink)
}

func (p transferProxy) Cancel(ctx context.Context, id string) (bool, error) {
	impl, err := p.impl()
	if err != nil {
		return false, err
	}
	return impl.Cancel(ctx, id)
}

// CancelTargets implements sdk.TargetCanceller for plugins that do (every
// gRPC client does; a plugin without it answers sdk.ErrUnsupported).
func (p transferProxy) CancelTargets(ctx context.Context, id string, nodeIDs []string) (bool, error) {
	impl, err := p.impl()
	if err != nil {
		return false, err
	}
	tc, ok := impl.(sdk.TargetCanceller)
	if !ok {
		return false, sdk.ErrUnsupported
	}
	return tc.CancelTargets(ctx, id, nodeIDs)
}

type discoveryProxy struct{ i *instance }

func (p discoveryProxy) Info(ctx context.Context) (*sdk.PluginInfo, error) {
	return baseProxy(p).Info(ctx)
}

func (p discoveryProxy) ConfigSchema(ctx context.Context) (*sdk.ConfigSchema, error) {
	return baseProxy(p).ConfigSchema(ctx)
}

func (p discoveryProxy) Configure(ctx context.Context, req *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return baseProxy(p).Configure(ctx, req)
}

func (p discoveryProxy) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	impl, err := p.i.current()
	if err != nil {
		return nil, err
	}
	return impl.(sdk.Discoverer).Discover(ctx, req, sink)
}
