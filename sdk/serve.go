package sdk

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// ServeDiscovery serves a discovery strategy. Call it from main; it returns
// when the daemon kills the plugin.
func ServeDiscovery(impl Discoverer, opts ...ServeOption) { serve(impl, opts) }

// ServeTransfer serves a transfer backend. Call it from main; it returns
// when the daemon kills the plugin.
func ServeTransfer(impl Transferer, opts ...ServeOption) { serve(impl, opts) }

// A ServeOption tunes ServeDiscovery or ServeTransfer.
type ServeOption func(*serveConfig)

type serveConfig struct {
	versions []int
}

// WithAPIVersions lists the plugin API versions the plugin serves; the
// default is every version of its SDK (APIVersions). go-plugin then picks
// the highest one the daemon offers too. Each version must be one this SDK
// speaks: ServeDiscovery and ServeTransfer panic otherwise.
func WithAPIVersions(versions ...int) ServeOption {
	return func(c *serveConfig) { c.versions = slices.Clone(versions) }
}

// ServerPluginSet is the go-plugin plugin set a plugin serves for one API
// version: the base service plus the service of impl's kind. impl must be a
// Discoverer or a Transferer. Most authors call ServeDiscovery or
// ServeTransfer instead; tests use it through sdk/plugintest.
func ServerPluginSet(impl Plugin) plugin.PluginSet { return serverPluginSet(impl, APIVersions()) }

// serverPluginSet builds the set; versions are those the plugin serves,
// the default of PluginInfo.api_versions.
func serverPluginSet(impl Plugin, versions []int) plugin.PluginSet {
	base := &pluginServer{impl: impl, versions: versions}
	set := plugin.PluginSet{PluginSetBase: &basePlugin{impl: impl, server: base}}
	switch v := impl.(type) {
	case Discoverer:
		base.kind = KindDiscovery
		set[PluginSetDiscovery] = &discoveryPlugin{impl: v, info: base}
	case Transferer:
		base.kind = KindTransfer
		set[PluginSetTransfer] = &transferPlugin{impl: v}
	default:
		panic(fmt.Sprintf("sdk: %T is neither a Discoverer nor a Transferer", impl))
	}
	return set
}

func serve(impl Plugin, opts []ServeOption) {
	cfg := serveConfig{versions: APIVersions()}
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkServedVersions(cfg.versions); err != nil {
		panic("sdk: " + err.Error())
	}
	// go-plugin, finding no version in common, would answer with its lowest
	// one and leave the daemon to say only that. Say which lists differ,
	// on stderr, which the daemon quotes in the plugin's load error.
	if os.Getenv(Handshake.MagicCookieKey) == Handshake.MagicCookieValue {
		if err := checkOffered(os.Getenv("PLUGIN_PROTOCOL_VERSIONS"), cfg.versions); err != nil {
			fmt.Fprintln(os.Stderr, "castray plugin:", err)
			os.Exit(1)
		}
	}
	versioned := make(map[int]plugin.PluginSet, len(cfg.versions))
	for _, v := range cfg.versions {
		versioned[v] = serverPluginSet(impl, cfg.versions)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versioned,
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           Logger(),
	})
}

// checkServedVersions refuses an empty list and versions this SDK does not
// speak.
func checkServedVersions(versions []int) error {
	if len(versions) == 0 {
		return fmt.Errorf("WithAPIVersions: no versions; this SDK speaks %v", APIVersions())
	}
	for _, v := range versions {
		if !slices.Contains(APIVersions(), v) {
			return fmt.Errorf("WithAPIVersions: this SDK does not speak API version %d; it speaks %v", v, APIVersions())
		}
	}
	return nil
}

// checkOffered compares the versions the daemon offers (go-plugin's
// PLUGIN_PROTOCOL_VERSIONS, comma-separated; empty for a legacy daemon,
// which is not checked) with the served ones.
func checkOffered(offered string, served []int) error {
	if offered == "" {
		return nil
	}
	var daemon []int
	for _, s := range strings.Split(offered, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("the daemon offers malformed API versions %q", offered)
		}
		daemon = append(daemon, v)
		if slices.Contains(served, v) {
			return nil
		}
	}
	slices.Sort(daemon)
	return fmt.Errorf("no API version in common with the daemon: this plugin speaks %v, the daemon offers %v", sorted(served), daemon)
}

func sorted(v []int) []int {
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}

// defaultName is the plugin name used when Info leaves it empty: the
// executable's name without the castray-<kind>- prefix the daemon's naming
// convention adds ("castray-discovery-my-scan" is "my-scan").
func defaultName(kind PluginKind) string {
	name := filepath.Base(os.Args[0])
	switch kind {
	case KindDiscovery:
		return strings.TrimPrefix(name, "castray-discovery-")
	case KindTransfer:
		return strings.TrimPrefix(name, "castray-transfer-")
	}
	return name
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
