package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/ray"
)

// Config is the plugin's config block. The same keys are accepted as
// per-call overrides in DiscoverRequest.config_json (naming clusters there
// replaces the whole list).
type Config struct {
	// Clusters are the clusters to report. Empty: the plugin reports
	// nothing (it probes nothing either).
	Clusters []ClusterSpec `json:"clusters"`
	// TimeoutMS bounds the verification of one cluster (every request to
	// it), unless the cluster sets its own.
	TimeoutMS int `json:"timeout_ms"`
	// Concurrency bounds the clusters verified at once.
	Concurrency int `json:"concurrency"`
	// ReportUnverified reports clusters that could not be verified as
	// candidates with status unknown (besides the note); false reports
	// them as notes only.
	ReportUnverified bool `json:"report_unverified"`
}

// ClusterSpec is one configured cluster: its dashboard URL, its GCS
// address, or both (then they must be the same cluster).
type ClusterSpec struct {
	// Name labels the cluster in notes and in the attribute static_name.
	Name string `json:"name"`
	// DashboardURL is "http(s)://host:port[/path]" (a bare host:port is
	// taken as http).
	DashboardURL string `json:"dashboard_url"`
	// GCSAddress is the GCS's "host:port".
	GCSAddress string `json:"gcs_address"`
	// AuthToken is this cluster's Ray auth token (a secret).
	AuthToken string `json:"auth_token"`
	// AuthTokenFile is an absolute path to a file whose first line is the
	// token, read at every round (so a rotated token is picked up).
	AuthTokenFile string `json:"auth_token_file"`
	// TimeoutMS overrides the plugin's timeout_ms for this cluster; 0 keeps
	// it.
	TimeoutMS int `json:"timeout_ms"`
}

const (
	defaultTimeoutMS   = 5000
	defaultConcurrency = 8
	minTimeoutMS       = 50
	maxTimeoutMS       = 120000
	maxConcurrency     = 64
	// maxClusters bounds the list: a static list longer than this is a
	// mistake (a scan's job).
	maxClusters = 1024
)

func defaultConfig() Config {
	return Config{TimeoutMS: defaultTimeoutMS, Concurrency: defaultConcurrency, ReportUnverified: true}
}

// clusterKeys are the keys a cluster object may have.
var clusterKeys = map[string]bool{
	"name": true, "dashboard_url": true, "gcs_address": true, "auth_token": true, "auth_token_file": true, "timeout_ms": true,
}

// schema describes every key.
func schema() *sdk.ConfigSchema {
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{
		{Name: "clusters", Type: "list(object)", DefaultJson: "[]", Description: "The clusters to report, each an object with " +
			"dashboard_url (http(s)://host:port[/path]) and/or gcs_address (host:port), and optionally name, " +
			"auth_token (secret; never logged) or auth_token_file (absolute path; first line), and timeout_ms. " +
			"Without a token of its own a cluster uses RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token. Empty: nothing is reported."},
		{Name: "timeout_ms", Type: "int", DefaultJson: fmt.Sprint(defaultTimeoutMS),
			Description: fmt.Sprintf("Budget of one cluster's verification in ms, all its requests together (%d-%d).", minTimeoutMS, maxTimeoutMS)},
		{Name: "concurrency", Type: "int", DefaultJson: fmt.Sprint(defaultConcurrency),
			Description: fmt.Sprintf("Most clusters verified at once (1-%d).", maxConcurrency)},
		{Name: "report_unverified", Type: "bool", DefaultJson: "true",
			Description: "Report a cluster that could not be verified as a candidate with status unknown (and a note); false: a note only."},
	}}
}

// applyConfig decodes raw on top of base and validates the result.
func applyConfig(base Config, raw []byte) (Config, []*sdk.ConfigError) {
	cfg := base
	cfg.Clusters = append([]ClusterSpec(nil), base.Clusters...)
	if len(bytes.TrimSpace(raw)) > 0 {
		if errs := clusterKeyErrors(raw); errs != nil {
			return Config{}, errs
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal(raw, &keys) == nil {
			if _, ok := keys["clusters"]; ok {
				cfg.Clusters = nil
			}
		}
		if errs := sdk.DecodeConfig(raw, &cfg); errs != nil {
			return Config{}, errs
		}
	}
	for i := range cfg.Clusters {
		c := &cfg.Clusters[i]
		c.Name = strings.TrimSpace(c.Name)
		c.DashboardURL = strings.TrimSpace(c.DashboardURL)
		c.GCSAddress = strings.TrimSpace(c.GCSAddress)
		c.AuthToken = strings.TrimSpace(c.AuthToken)
		c.AuthTokenFile = strings.TrimSpace(c.AuthTokenFile)
	}
	if errs := cfg.validate(); errs != nil {
		return Config{}, errs
	}
	return cfg, nil
}

// clusterKeyErrors names unknown keys inside the cluster objects with their
// index (clusters[1].dashbord_url), which sdk.DecodeConfig cannot.
func clusterKeyErrors(raw []byte) []*sdk.ConfigError {
	var top struct {
		Clusters []map[string]json.RawMessage `json:"clusters"`
	}
	if json.Unmarshal(raw, &top) != nil {
		return nil // DecodeConfig reports the shape problem
	}
	var errs []*sdk.ConfigError
	for i, c := range top.Clusters {
		var unknown []string
		for k := range c {
			if !clusterKeys[k] {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			errs = append(errs, &sdk.ConfigError{Key: fmt.Sprintf("clusters[%d].%s", i, k),
				Message: "unknown key (known: name, dashboard_url, gcs_address, auth_token, auth_token_file, timeout_ms)"})
		}
	}
	return errs
}

func (c Config) validate() []*sdk.ConfigError {
	var errs []*sdk.ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &sdk.ConfigError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if c.TimeoutMS < minTimeoutMS || c.TimeoutMS > maxTimeoutMS {
		bad("timeout_ms", "must be between %d and %d, got %d", minTimeoutMS, maxTimeoutMS, c.TimeoutMS)
	}
	if c.Concurrency < 1 || c.Concurrency > maxConcurrency {
		bad("concurrency", "must be between 1 and %d, got %d", maxConcurrency, c.Concurrency)
	}
	if len(c.Clusters) > maxClusters {
		bad("clusters", "%d clusters exceed %d", len(c.Clusters), maxClusters)
		return errs
	}
	names := map[string]int{}
	addrs := map[string]int{}
	for i, cl := range c.Clusters {
		key := func(k string) string { return fmt.Sprintf("clusters[%d].%s", i, k) }
		if cl.DashboardURL == "" && cl.GCSAddress == "" {
			bad(fmt.Sprintf("clusters[%d]", i), "needs dashboard_url, gcs_address or both")
		}
		if cl.DashboardURL != "" {
			if a, err := parseDashboard(cl.DashboardURL); err != nil {
				bad(key("dashboard_url"), "%v", err)
			} else if j, dup := addrs["dash:"+a.String()]; dup {
				bad(key("dashboard_url"), "%s is already clusters[%d]'s", a.String(), j)
			} else {
				addrs["dash:"+a.String()] = i
			}
		}
		if cl.GCSAddress != "" {
			if a, err := parseGCS(cl.GCSAddress); err != nil {
				bad(key("gcs_address"), "%v", err)
			} else if j, dup := addrs["gcs:"+a.HostPort()]; dup {
				bad(key("gcs_address"), "%s is already clusters[%d]'s", a.HostPort(), j)
			} else {
				addrs["gcs:"+a.HostPort()] = i
			}
		}
		if cl.Name != "" {
			if j, dup := names[cl.Name]; dup {
				bad(key("name"), "%q is already clusters[%d]'s name", cl.Name, j)
			}
			names[cl.Name] = i
		}
		if cl.AuthToken != "" && cl.AuthTokenFile != "" {
			bad(key("auth_token"), "give auth_token or auth_token_file, not both")
		}
		if strings.ContainsFunc(cl.AuthToken, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
			// Never echo the token itself.
			bad(key("auth_token"), "must be one line without spaces or control characters")
		}
		if cl.AuthTokenFile != "" && !filepath.IsAbs(cl.AuthTokenFile) {
			bad(key("auth_token_file"), "must be an absolute path, got %q", cl.AuthTokenFile)
		}
		if cl.TimeoutMS != 0 && (cl.TimeoutMS < minTimeoutMS || cl.TimeoutMS > maxTimeoutMS) {
			bad(key("timeout_ms"), "must be 0 (the plugin's timeout_ms) or between %d and %d, got %d", minTimeoutMS, maxTimeoutMS, cl.TimeoutMS)
		}
	}
	return errs
}

// parseDashboard accepts http(s)://host:port[/path] or a bare host:port
// (taken as http, as ray.NewDashboard does).
func parseDashboard(s string) (ray.Address, error) {
	a, err := ray.ParseAddress(s)
	if err != nil {
		return ray.Address{}, err
	}
	switch a.Kind {
	case ray.KindDashboard:
		return a, nil
	case ray.KindUnknown:
		a.Kind, a.Scheme = ray.KindDashboard, "http"
		return a, nil
	case ray.KindClientServer:
		return ray.Address{}, fmt.Errorf("%q is a Ray client server address (ray://): give the cluster's dashboard URL or GCS address", s)
	}
	return ray.Address{}, fmt.Errorf("%q is not a dashboard URL (want http(s)://host:port)", s)
}

// parseGCS accepts a bare host:port.
func parseGCS(s string) (ray.Address, error) {
	a, err := ray.ParseAddress(s)
	if err != nil {
		return ray.Address{}, err
	}
	switch a.Kind {
	case ray.KindUnknown, ray.KindGCS:
		a.Kind = ray.KindGCS
		return a, nil
	case ray.KindDashboard:
		return ray.Address{}, fmt.Errorf("%q is a URL; a GCS address is a bare host:port (a dashboard URL goes in dashboard_url)", s)
	case ray.KindClientServer:
		return ray.Address{}, fmt.Errorf("%q is a Ray client server address (ray://); a GCS address is a bare host:port", s)
	}
	return ray.Address{}, fmt.Errorf("%q is not a GCS address (want host:port)", s)
}

// label names a cluster in notes: its index, and its name if it has one
// (the notes name the address anyway).
func (c ClusterSpec) label(i int) string {
	if c.Name != "" {
		return fmt.Sprintf("clusters[%d] %q", i, c.Name)
	}
	return fmt.Sprintf("clusters[%d]", i)
}
