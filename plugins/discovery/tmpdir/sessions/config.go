package sessions

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/castray/castray/sdk"
)

// Config is the plugin's config block.
type Config struct {
	// Dirs are extra Ray temp dirs to scan: folders given to `ray start --temp-dir`, which
	// hold session_* dirs and ray_current_cluster directly. A session dir itself is also
	// accepted. "~/" is the plugin's home; relative paths are taken from the plugin's
	// working directory.
	Dirs []string `json:"dirs"`
	// IncludeDefaults adds $RAY_TMPDIR/ray, $TMPDIR/ray, /tmp/ray and the original
	// CastRay's ~/ray_tmp, ./ray_temp and ./ray_tmp.
	IncludeDefaults bool `json:"include_defaults"`
	// MaxSessions is how many sessions of one root are read, newest first.
	MaxSessions int `json:"max_sessions"`
	// CheckProcesses decides liveness from the process table (/proc).
	CheckProcesses bool `json:"check_processes"`
	// CheckPorts connects to each session's GCS port.
	CheckPorts bool `json:"check_ports"`
}

// Bounds of max_sessions.
const (
	minMaxSessions = 1
	maxMaxSessions = 10000
)

func defaultConfig() Config {
	return Config{IncludeDefaults: true, MaxSessions: 50, CheckProcesses: true, CheckPorts: true}
}

func schema() *sdk.ConfigSchema {
	d := defaultConfig()
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{
		{Name: "dirs", Type: "list(string)", DefaultJson: "[]",
			Description: "Extra Ray temp dirs to scan (what `ray start --temp-dir` was given: the folder holding session_* and ray_current_cluster), or session dirs. \"~/\" is the plugin's home; relative paths are from the plugin's working directory."},
		{Name: "include_defaults", Type: "bool", DefaultJson: js(d.IncludeDefaults),
			Description: "Also scan $RAY_TMPDIR/ray, $TMPDIR/ray, /tmp/ray and the original CastRay's ~/ray_tmp, ./ray_temp and ./ray_tmp."},
		{Name: "max_sessions", Type: "int", DefaultJson: js(d.MaxSessions),
			Description: fmt.Sprintf("Sessions read per temp dir, newest first (%d to %d); older ones are counted in a note.", minMaxSessions, maxMaxSessions)},
		{Name: "check_processes", Type: "bool", DefaultJson: js(d.CheckProcesses),
			Description: "Decide live vs stale from the process table: a live gcs_server, raylet, dashboard, ... whose command line names the session."},
		{Name: "check_ports", Type: "bool", DefaultJson: js(d.CheckPorts),
			Description: "Connect to each session's GCS port (loopback and this machine's addresses, or the request's hosts) as further evidence."},
	}}
}

// decode applies raw over base and validates the result.
func decode(raw []byte, base Config) (Config, []*sdk.ConfigError) {
	cfg := base
	// Decode into a fresh struct with base's values so that a list in raw replaces, not
	// extends, base's list.
	cfg.Dirs = append([]string(nil), base.Dirs...)
	if problems := sdk.DecodeConfig(raw, &cfg); problems != nil {
		return base, problems
	}
	var problems []*sdk.ConfigError
	for i, d := range cfg.Dirs {
		switch {
		case strings.TrimSpace(d) == "":
			problems = append(problems, &sdk.ConfigError{Key: fmt.Sprintf("dirs[%d]", i), Message: "must not be empty"})
		case strings.ContainsRune(d, 0):
			problems = append(problems, &sdk.ConfigError{Key: fmt.Sprintf("dirs[%d]", i), Message: "must not contain NUL"})
		case strings.HasPrefix(d, "~") && !strings.HasPrefix(d, "~/") && d != "~" && !strings.HasPrefix(d, `~`+string(filepath.Separator)):
			problems = append(problems, &sdk.ConfigError{Key: fmt.Sprintf("dirs[%d]", i), Message: "only \"~/\" (the plugin's own home) is expanded, not ~user"})
		}
	}
	if cfg.MaxSessions < minMaxSessions || cfg.MaxSessions > maxMaxSessions {
		problems = append(problems, &sdk.ConfigError{Key: "max_sessions",
			Message: fmt.Sprintf("must be between %d and %d, got %d", minMaxSessions, maxMaxSessions, cfg.MaxSessions)})
	}
	if problems != nil {
		return base, problems
	}
	return cfg, nil
}
