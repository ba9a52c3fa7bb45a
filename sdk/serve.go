package sdk

import (
	"fmt"
	"os"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// ServeDiscovery serves a discovery strategy. Call it from main; it returns
// when the daemon kills the plugin.
func ServeDiscovery(impl Discoverer) { serve(ServerPluginSet(impl)) }

// ServeTransfer serves a transfer backend. Call it from main; it returns
// when the daemon kills the plugin.
func ServeTransfer(impl Transferer) { serve(ServerPluginSet(impl)) }

// ServerPluginSet is the go-plugin plugin set a plugin serves: the base
// service plus the service of impl's kind. impl must be a Discoverer or a
// Transferer. Most authors call ServeDiscovery or ServeTransfer instead.
func ServerPluginSet(impl Plugin) plugin.PluginSet {
	set := plugin.PluginSet{PluginSetBase: &basePlugin{impl: impl}}
	switch v := impl.(type) {
	case Discoverer:
		set[PluginSetDiscovery] = &discoveryPlugin{impl: v}
	case Transferer:
		set[PluginSetTransfer] = &transferPlugin{impl: v}
	default:
		panic(fmt.Sprintf("sdk: %T is neither a Discoverer nor a Transferer", impl))
	}
	return set
}

func serve(set plugin.PluginSet) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{APIVersion: set},
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           Logger(),
	})
}

// Logger returns the logger a plugin should use: JSON lines on stderr, which
// the daemon reads and re-logs under the plugin's name at the right level.
// The level follows CASTRAY_PLUGIN_LOG_LEVEL, which the daemon sets.
func Logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Level:      hclog.LevelFromString(os.Getenv("CASTRAY_PLUGIN_LOG_LEVEL")),
		Output:     os.Stderr,
		JSONFormat: true,
	})
}
