package config

import (
	"fmt"
	"path"
	"strings"
)

// levels are the accepted log levels, in order, and levelAliases the
// spellings of other logging libraries (the original used Python's).
var (
	levels       = []string{"trace", "debug", "info", "warn", "error"}
	levelAliases = map[string]string{"warning": "warn", "critical": "error", "fatal": "error"}
)

func normalizeLevel(s string) (string, bool) {
	l := strings.ToLower(strings.TrimSpace(s))
	if a, ok := levelAliases[l]; ok {
		l = a
	}
	for _, v := range levels {
		if l == v {
			return l, true
		}
	}
	return "", false
}

// Validate reports what is wrong with c, as Load would (without the
// unknown-key and type checks, which only make sense for files): a
// *ValidationError, or nil. It does not modify c.
func (c *Config) Validate() error {
	p := &problems{}
	validate(c.Clone(), p)
	return p.err("")
}

// validate checks the values of a decoded Config and normalises them in
// place (lower-cased levels, format and sha256).
func validate(c *Config, p *problems) {
	// web_server
	if strings.TrimSpace(c.WebServer.Host) == "" {
		p.at("web_server.host", `must not be empty (use "127.0.0.1" for local only, "0.0.0.0" for every interface)`)
	}
	if c.WebServer.Port < 0 || c.WebServer.Port > 65535 {
		p.at("web_server.port", "must be between 0 and 65535, got %d", c.WebServer.Port)
	}
	if c.WebServer.LogLevel != "" {
		if l, ok := normalizeLevel(c.WebServer.LogLevel); ok {
			c.WebServer.LogLevel = l
		} else {
			p.at("web_server.log_level", "must be one of %s, got %q", strings.Join(levels, ", "), c.WebServer.LogLevel)
		}
	}
	if c.WebServer.BodyLimit <= 0 {
		p.at("web_server.body_limit", "must be greater than 0, got %d", c.WebServer.BodyLimit)
	}

	// external_cluster
	seconds(p, "external_cluster.connection_timeout", c.ExternalCluster.ConnectionTimeout, false)
	seconds(p, "external_cluster.discovery_interval", c.ExternalCluster.DiscoveryInterval, true)
	seconds(p, "external_cluster.sync_interval", c.ExternalCluster.SyncInterval, false)
	for i, pat := range c.ExternalCluster.ActorClasses {
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			p.at(fmt.Sprintf("external_cluster.actor_classes[%d]", i), "must be a glob pattern such as \"*Worker*\", got %q", pat)
		}
	}

	// file_transfer
	if c.FileTransfer.ChunkSize < minChunkSize || c.FileTransfer.ChunkSize > maxChunkSize {
		p.at("file_transfer.chunk_size", "must be between %d (4 KiB) and %d (256 MiB), got %d", minChunkSize, maxChunkSize, c.FileTransfer.ChunkSize)
	}
	if c.FileTransfer.MaxFileSize <= 0 {
		p.at("file_transfer.max_file_size", "must be greater than 0, got %d", c.FileTransfer.MaxFileSize)
	}
	seconds(p, "file_transfer.timeout", c.FileTransfer.Timeout, false)
	seconds(p, "file_transfer.history_max_age", c.FileTransfer.HistoryMaxAge, true)
	if c.FileTransfer.HistoryMaxRecords < 0 {
		p.at("file_transfer.history_max_records", "must not be negative, got %d", c.FileTransfer.HistoryMaxRecords)
	}

	// logging
	if l, ok := normalizeLevel(c.Logging.Level); ok {
		c.Logging.Level = l
	} else {
		p.at("logging.level", "must be one of %s, got %q", strings.Join(levels, ", "), c.Logging.Level)
	}
	switch f := strings.ToLower(strings.TrimSpace(c.Logging.Format)); f {
	case "text", "json":
		c.Logging.Format = f
	default:
		p.at("logging.format", `must be "text" or "json", got %q`, c.Logging.Format)
	}
	if c.Logging.MaxSize < 0 {
		p.at("logging.max_size", "must not be negative, got %d", c.Logging.MaxSize)
	}
	if c.Logging.BackupCount < 0 {
		p.at("logging.backup_count", "must not be negative, got %d", c.Logging.BackupCount)
	}

	// events
	seconds(p, "events.status_interval", c.Events.StatusInterval, false)
	if c.Events.ClientBuffer <= 0 {
		p.at("events.client_buffer", "must be greater than 0, got %d", c.Events.ClientBuffer)
	}
	if c.Events.StatusNodes < 0 {
		p.at("events.status_nodes", "must not be negative, got %d", c.Events.StatusNodes)
	}

	// top level
	if strings.TrimSpace(c.DataDir) == "" {
		p.at("data_dir", "must not be empty")
	}
	for _, name := range sortedKeys(c.Plugins) {
		pl := c.Plugins[name]
		key := "plugin." + name
		if !validPluginName(name) {
			p.add(key, key+": invalid plugin name")
		}
		if pl.SHA256 != "" {
			if s := strings.ToLower(strings.TrimSpace(pl.SHA256)); isHex64(s) {
				pl.SHA256 = s
				c.Plugins[name] = pl
			} else {
				p.at(key+".sha256", "must be 64 hex characters, got %q", clip(pl.SHA256))
			}
		}
	}
}

// seconds checks a seconds-valued setting: > 0 (or >= 0 when zeroOK) and at
// most a year.
func seconds(p *problems, key string, v float64, zeroOK bool) {
	switch {
	case zeroOK && v < 0:
		p.at(key, "must not be negative, got %v", v)
	case !zeroOK && v <= 0:
		p.at(key, "must be greater than 0 seconds, got %v", v)
	case v > maxSeconds:
		p.at(key, "must be at most %d seconds (a year), got %v", maxSeconds, v)
	}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// validPluginName: letters, digits, '-' and '_', starting with a letter or
// digit, at most 64 characters. The host builds file names from it.
func validPluginName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
