// Package plugintest runs a plugin implementation over the real gRPC path,
// in process, without the daemon: the value it returns is the same stub the
// daemon would use, so a test exercises serialisation, streaming, error
// mapping and cancellation exactly as in production. Sink records what a
// Discover call reports:
//
//	client := plugintest.Discovery(t, impl)
//	var got plugintest.Sink
//	summary, err := client.Discover(ctx, &sdk.DiscoverRequest{}, &got)
//	// got.Candidates(), got.Notes()
//
// It must not import the daemon (host/), config/ or plugins/.
package plugintest

import (
	"testing"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/castray/castray/sdk"
)

// Discovery serves impl over gRPC and returns the daemon-side client.
// Everything is closed when the test ends.
func Discovery(t testing.TB, impl sdk.Discoverer) sdk.Discoverer {
	t.Helper()
	return dispense(t, sdk.ServerPluginSet(impl), sdk.PluginSetDiscovery).(sdk.Discoverer)
}

// Transfer serves impl over gRPC and returns the daemon-side client.
func Transfer(t testing.TB, impl sdk.Transferer) sdk.Transferer {
	t.Helper()
	return dispense(t, sdk.ServerPluginSet(impl), sdk.PluginSetTransfer).(sdk.Transferer)
}

func dispense(t testing.TB, set plugin.PluginSet, name string) any {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, set)
	// Closing the client asks the server to shut down through go-plugin's
	// controller; stopping the server here as well would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(name)
	if err != nil {
		t.Fatalf("plugintest: dispense %s: %v", name, err)
	}
	return raw
}
