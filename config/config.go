package config

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Config is the daemon configuration. Load fills it from defaults, a file,
// the environment and flags; Default returns the defaults alone.
//
// The koanf tags are the keys used in files, in CASTRAY_ environment
// variables and in error messages; the json tags spell the same keys so a
// Config (or its Redacted copy) can be shown in the file format.
type Config struct {
	RayCluster      RayCluster      `koanf:"ray_cluster" json:"ray_cluster"`
	WebServer       WebServer       `koanf:"web_server" json:"web_server"`
	ExternalCluster ExternalCluster `koanf:"external_cluster" json:"external_cluster"`
	FileTransfer    FileTransfer    `koanf:"file_transfer" json:"file_transfer"`
	Networking      Networking      `koanf:"networking" json:"networking" compat:"unused"`
	Logging         Logging         `koanf:"logging" json:"logging"`
	DemoFiles       DemoFiles       `koanf:"demo_files" json:"demo_files" compat:"unused"`
	Events          Events          `koanf:"events" json:"events"`
	// DataDir is where the daemon keeps its state. Default "castray-data",
	// used as given (a relative path is relative to the working directory).
	DataDir string `koanf:"data_dir" json:"data_dir"`
	// PluginDir is where plugin executables are looked up. The default ""
	// means <directory of the castray binary>/plugins; the host resolves
	// it, this package does not.
	PluginDir string `koanf:"plugin_dir" json:"plugin_dir"`
	// Plugins holds one entry per `plugin "<name>" { ... }` block.
	Plugins map[string]Plugin `koanf:"plugin" json:"plugin"`

	// Unused lists the keys the user set that CastRay accepts for
	// compatibility with the original's configuration files but does not
	// act on (fields tagged compat:"unused"), for the daemon to warn about
	// once. Load fills it; it is not a setting.
	Unused []string `koanf:"-" json:"-"`
}

// RayCluster says which Ray cluster the daemon attaches to.
type RayCluster struct {
	// Address is a Ray address ("auto", "host:port", "ray://host:port").
	// Default "auto". RAY_ADDRESS overrides it (below CASTRAY_ variables).
	Address   string `koanf:"address" json:"address"`
	Namespace string `koanf:"namespace" json:"namespace" compat:"unused"` // default "castray"
	// CreateDemoNodes starts demo nodes when no cluster is found. Default true.
	CreateDemoNodes bool `koanf:"create_demo_nodes" json:"create_demo_nodes"`
	// RuntimeEnv is the original's runtime_env for its Ray actors;
	// free-form, not validated here.
	RuntimeEnv        map[string]any `koanf:"runtime_env" json:"runtime_env" compat:"unused"`
	ExternalDiscovery bool           `koanf:"external_discovery" json:"external_discovery" compat:"unused"` // default false
	FallbackToLocal   bool           `koanf:"fallback_to_local" json:"fallback_to_local"`                   // default true
}

// WebServer configures the HTTP API and web UI listener.
type WebServer struct {
	// Host is the listen address. Default "127.0.0.1" (local only); set
	// "0.0.0.0" to listen on every interface. Must not be empty.
	Host string `koanf:"host" json:"host"`
	// Port is the listen port, 0..65535; 0 picks a free port. Default 8000.
	Port int `koanf:"port" json:"port"`
	// LogLevel is the legacy spelling of the log level; see
	// Config.EffectiveLogLevel. Default "" (unset).
	LogLevel string `koanf:"log_level" json:"log_level"`
	// APIToken, when set, is required by the API. Default "" (none).
	APIToken string `koanf:"api_token" json:"api_token"`
	// BodyLimit caps JSON request bodies, in bytes. Default 4 MiB, > 0.
	BodyLimit int64 `koanf:"body_limit" json:"body_limit"`
	// AllowedHosts are host names the Host header may carry besides
	// localhost, 127.0.0.1, ::1 and Host ("*": any). With Host a wildcard
	// (0.0.0.0, ::) and this empty, any Host is accepted (the API token
	// protects an exposed daemon).
	AllowedHosts []string `koanf:"allowed_hosts" json:"allowed_hosts"`
	// AllowedOrigins are origins ("https://ops.example.com") besides the
	// daemon's own whose pages may change anything or open /ws.
	AllowedOrigins []string `koanf:"allowed_origins" json:"allowed_origins"`
}

// ExternalCluster configures discovery of clusters the daemon did not start.
type ExternalCluster struct {
	Enabled      bool `koanf:"enabled" json:"enabled"`             // default false
	AutoDiscover bool `koanf:"auto_discover" json:"auto_discover"` // default false
	// ConnectionTimeout in seconds. Default 10, > 0.
	ConnectionTimeout float64 `koanf:"connection_timeout" json:"connection_timeout"`
	// DiscoveryInterval in seconds; 0 (default) = on demand only.
	DiscoveryInterval float64 `koanf:"discovery_interval" json:"discovery_interval"`
	// SyncInterval in seconds. Default 5, > 0.
	SyncInterval float64 `koanf:"sync_interval" json:"sync_interval"`
	// NamedActors makes every named actor of a connected cluster a virtual
	// node. Default true.
	NamedActors bool `koanf:"named_actors" json:"named_actors"`
	// ActorClasses are glob patterns (path.Match) on actor class names that
	// make an actor a virtual node. Default the original's keywords:
	// "*Node*", "*Worker*", "*Demo*".
	ActorClasses []string `koanf:"actor_classes" json:"actor_classes"`
	// AuthToken is the Ray auth token for token-protected clusters. Default
	// "": RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token.
	AuthToken string `koanf:"auth_token" json:"auth_token"`
	// ScanAllow lists what a discovery request may name in its hosts
	// scope: IP addresses, CIDR blocks and host names (matched as written,
	// never resolved). Empty (default): this machine only (loopback, its
	// interface addresses, localhost and its host name).
	ScanAllow []string `koanf:"scan_allow" json:"scan_allow"`
}

// FileTransfer configures file transfers.
type FileTransfer struct {
	// ChunkSize is the unit of verification and resume: every stored file
	// gets a CRC32C per chunk, checked by the backends as they deliver and
	// when they resume. Bytes, default 4 MiB, 4 KiB..256 MiB.
	ChunkSize   int   `koanf:"chunk_size" json:"chunk_size"`
	MaxFileSize int64 `koanf:"max_file_size" json:"max_file_size"` // bytes, default 1 GiB, > 0
	// Timeout is an idle timeout in seconds: an upload or download with no
	// byte moving, or a transfer whose backend reports nothing, for this
	// long fails. Default 300, > 0.
	Timeout     float64 `koanf:"timeout" json:"timeout"`
	DownloadDir string  `koanf:"download_dir" json:"download_dir" compat:"unused"` // default ""
	// ResumeOnStart resumes at start-up the transfers a stop or crash of the
	// daemon interrupted. Default true.
	ResumeOnStart bool `koanf:"resume_on_start" json:"resume_on_start"`
	// HistoryMaxAge (seconds) and HistoryMaxRecords bound the kept records
	// of ended transfers; 0 keeps them forever / without a count limit.
	// Defaults 30 days and 10000.
	HistoryMaxAge     float64 `koanf:"history_max_age" json:"history_max_age"`
	HistoryMaxRecords int     `koanf:"history_max_records" json:"history_max_records"`
}

// Networking is the original's UDP settings: accepted so old files load,
// and unused.
type Networking struct {
	UDPPortRange   []int  `koanf:"udp_port_range" json:"udp_port_range"`
	MulticastGroup string `koanf:"multicast_group" json:"multicast_group"`
	MulticastPort  int    `koanf:"multicast_port" json:"multicast_port"`
}

// Logging configures the daemon's log output.
type Logging struct {
	// Level is one of trace, debug, info, warn, error (any case; "warning"
	// is read as warn, "critical" and "fatal" as error). Load stores it in
	// lower case. Default "info".
	Level       string `koanf:"level" json:"level"`
	File        string `koanf:"file" json:"file"`                                 // default "" = stderr
	MaxSize     int64  `koanf:"max_size" json:"max_size" compat:"unused"`         // bytes, >= 0
	BackupCount int    `koanf:"backup_count" json:"backup_count" compat:"unused"` // >= 0
	Format      string `koanf:"format" json:"format"`                             // "text" (default) or "json"
}

// DemoFiles is the original's demo file generator: accepted so old files
// load, and unused.
type DemoFiles struct {
	Enabled   bool     `koanf:"enabled" json:"enabled"`
	Directory string   `koanf:"directory" json:"directory"`
	Files     []string `koanf:"files" json:"files"`
}

// Events configures the event stream (WebSocket) side of the daemon.
type Events struct {
	StatusInterval float64 `koanf:"status_interval" json:"status_interval"` // seconds, default 5, > 0
	ClientBuffer   int     `koanf:"client_buffer" json:"client_buffer"`     // events, default 256, > 0
	// StatusNodes is the most nodes a /ws status (snapshot, status_update)
	// lists one by one; above it node_statuses is empty and
	// node_statuses_omitted says how many were left out. Default 1000, >= 0.
	StatusNodes int `koanf:"status_nodes" json:"status_nodes"`
}

// Plugin is one `plugin "<name>" { ... }` block.
type Plugin struct {
	// Enabled: nil (not written) means enabled.
	Enabled *bool `koanf:"enabled" json:"enabled,omitempty"`
	// SHA256 optionally pins the plugin executable: 64 hex characters,
	// stored in lower case by Load.
	SHA256 string `koanf:"sha256" json:"sha256,omitempty"`
	// Config is the plugin's own block, free-form here and validated by the
	// plugin.
	Config map[string]any `koanf:"config" json:"config,omitempty"`
}

// Size and time constants used by the defaults and the limits.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30

	// minChunkSize and maxChunkSize bound file_transfer.chunk_size: a chunk
	// is held in memory (several at once), and every chunk of a stored file
	// has a digest.
	minChunkSize = 4 * KiB
	maxChunkSize = 256 * MiB
	// maxSeconds bounds every seconds-valued setting (one year), so that
	// Seconds never overflows a time.Duration.
	maxSeconds = 365 * 24 * 60 * 60
)

// Default returns the built-in configuration, the lowest layer of Load.
func Default() *Config {
	return &Config{
		RayCluster: RayCluster{
			Address:         "auto",
			Namespace:       "castray",
			CreateDemoNodes: true,
			FallbackToLocal: true,
		},
		WebServer: WebServer{
			Host:      "127.0.0.1",
			Port:      8000,
			BodyLimit: 4 * MiB,
		},
		ExternalCluster: ExternalCluster{
			ConnectionTimeout: 10,
			SyncInterval:      5,
			NamedActors:       true,
			ActorClasses:      []string{"*Node*", "*Worker*", "*Demo*"},
		},
		FileTransfer: FileTransfer{
			ChunkSize:         4 * MiB,
			MaxFileSize:       1 * GiB,
			Timeout:           300,
			ResumeOnStart:     true,
			HistoryMaxAge:     30 * 24 * 60 * 60,
			HistoryMaxRecords: 10000,
		},
		Logging: Logging{
			Level:  "info",
			Format: "text",
		},
		Events: Events{
			StatusInterval: 5,
			ClientBuffer:   256,
			StatusNodes:    1000,
		},
		DataDir: "castray-data",
	}
}

// IsEnabled reports whether the plugin should be started: true unless the
// block says enabled = false.
func (p Plugin) IsEnabled() bool {
	return p.Enabled == nil || *p.Enabled
}

// EffectiveLogLevel returns the log level to use, in lower case:
// logging.level if set, else web_server.log_level (the original's
// spelling), else "info".
//
// Load already folds web_server.log_level into logging.level when the user
// set the former and not the latter (logging.level's default "info" does
// not count as set), so after Load this is simply Logging.Level; the
// fallbacks matter for a Config built by hand.
func (c *Config) EffectiveLogLevel() string {
	for _, l := range []string{c.Logging.Level, c.WebServer.LogLevel} {
		if l = strings.TrimSpace(l); l != "" {
			if n, ok := normalizeLevel(l); ok {
				return n
			}
			return strings.ToLower(l)
		}
	}
	return "info"
}

// Redacted returns a deep copy for display: web_server.api_token becomes
// "<redacted>" if set, and so does any value inside the free-form sections
// (plugin.<name>.config, ray_cluster.runtime_env) whose key looks secret
// (contains token, password, passwd, secret, credential, api_key, apikey
// or private_key, in any case).
func (c *Config) Redacted() *Config {
	r := c.Clone()
	if r.WebServer.APIToken != "" {
		r.WebServer.APIToken = redactedValue
	}
	if r.ExternalCluster.AuthToken != "" {
		r.ExternalCluster.AuthToken = redactedValue
	}
	redactMap(r.RayCluster.RuntimeEnv)
	for _, p := range r.Plugins {
		redactMap(p.Config)
	}
	return r
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	r := *c
	r.RayCluster.RuntimeEnv = cloneMap(c.RayCluster.RuntimeEnv)
	r.Networking.UDPPortRange = slices.Clone(c.Networking.UDPPortRange)
	r.DemoFiles.Files = slices.Clone(c.DemoFiles.Files)
	if c.Plugins != nil {
		r.Plugins = make(map[string]Plugin, len(c.Plugins))
		for name, p := range c.Plugins {
			if p.Enabled != nil {
				e := *p.Enabled
				p.Enabled = &e
			}
			p.Config = cloneMap(p.Config)
			r.Plugins[name] = p
		}
	}
	return &r
}

// Seconds converts a seconds-valued setting (connection_timeout,
// sync_interval, ...) to a time.Duration. Load bounds those settings to a
// year, so the conversion cannot overflow.
func Seconds(s float64) time.Duration {
	if math.IsNaN(s) || s <= 0 {
		return 0
	}
	if s >= math.MaxInt64/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}

const redactedValue = "<redacted>"

var secretKeyParts = []string{"token", "password", "passwd", "secret", "credential", "api_key", "apikey", "private_key"}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, p := range secretKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// redactMap replaces secret-looking values in a free-form map, recursively,
// in place.
func redactMap(m map[string]any) {
	for k, v := range m {
		if isSecretKey(k) && v != nil {
			m[k] = redactedValue
			continue
		}
		redactValue(v)
	}
}

func redactValue(v any) {
	switch x := v.(type) {
	case map[string]any:
		redactMap(x)
	case []any:
		for _, e := range x {
			redactValue(e)
		}
	}
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	default:
		return v
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
