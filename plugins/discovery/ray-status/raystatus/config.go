package raystatus

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/castray/castray/sdk"
)

// Config is the plugin's config block; DiscoverRequest.config_json may
// override any key for one call.
type Config struct {
	// RayPath is the ray CLI to run; "" looks "ray" up in PATH.
	RayPath string `json:"ray_path"`
	// Addresses are GCS addresses ("host:port") checked with
	// `ray status --address`, besides the request's addresses.
	Addresses []string `json:"addresses"`
	// Local runs a plain `ray status` too: the cluster Ray itself would pick
	// on this machine (RAY_ADDRESS, ray_current_cluster, the raylet processes).
	Local bool `json:"local"`
	// ExpandMultiple checks every address of a "Found multiple active Ray
	// instances" answer to the plain `ray status` with --address.
	ExpandMultiple bool `json:"expand_multiple"`
	// Precheck connects to an address over TCP before running the CLI
	// against it; `ray status` spends ~40 s (Ray 2.60) on a dead address.
	Precheck bool `json:"precheck"`
	// TimeoutMS bounds one `ray status` run (the request's budget bounds it
	// further).
	TimeoutMS int `json:"timeout_ms"`
	// MaxConcurrency is how many `ray status` runs may go at once.
	MaxConcurrency int `json:"max_concurrency"`
	// AuthToken is the Ray auth token; "" falls back to RAY_AUTH_TOKEN,
	// RAY_AUTH_TOKEN_PATH and ~/.ray/auth_token.
	AuthToken string `json:"auth_token"`
}

const (
	defaultTimeoutMS      = 15000
	defaultMaxConcurrency = 2
	minTimeoutMS          = 100
	maxTimeoutMS          = 600000
	maxMaxConcurrency     = 16
)

func defaultConfig() Config {
	return Config{
		Local:          true,
		ExpandMultiple: true,
		Precheck:       true,
		TimeoutMS:      defaultTimeoutMS,
		MaxConcurrency: defaultMaxConcurrency,
	}
}

func configSchema() *sdk.ConfigSchema {
	d := defaultConfig()
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{
		{Name: "ray_path", Type: "string", DefaultJson: `""`,
			Description: "Path of the ray CLI; empty looks up \"ray\" in PATH. When there is none, discovery notes \"ray CLI not found\" and finds nothing."},
		{Name: "addresses", Type: "list(string)", DefaultJson: "[]",
			Description: "GCS addresses (host:port) to check with `ray status --address`, in addition to the request's addresses."},
		{Name: "local", Type: "bool", DefaultJson: js(d.Local),
			Description: "Also run a plain `ray status`: the cluster Ray itself picks on this machine (RAY_ADDRESS, <tmp>/ray/ray_current_cluster, the raylet processes)."},
		{Name: "expand_multiple", Type: "bool", DefaultJson: js(d.ExpandMultiple),
			Description: "When the plain `ray status` answers \"Found multiple active Ray instances\", check each of them with --address."},
		{Name: "precheck", Type: "bool", DefaultJson: js(d.Precheck),
			Description: "Connect to an address over TCP (request's probe timeout) before running the CLI against it; the CLI spends ~40 s on a dead address."},
		{Name: "timeout_ms", Type: "int", DefaultJson: js(d.TimeoutMS),
			Description: fmt.Sprintf("Time limit of one `ray status` run in milliseconds (%d-%d), further bounded by the request's budget; the process group is killed when it expires.", minTimeoutMS, maxTimeoutMS)},
		{Name: "max_concurrency", Type: "int", DefaultJson: js(d.MaxConcurrency),
			Description: fmt.Sprintf("How many `ray status` runs may go at once (1-%d); each is a Python process.", maxMaxConcurrency)},
		{Name: "auth_token", Type: "string", DefaultJson: `""`,
			Description: "Ray auth token given to the CLI (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN); empty falls back to RAY_AUTH_TOKEN, the file named by RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token. Never logged."},
	}}
}

// applyConfig decodes raw over base and validates the result.
func applyConfig(base Config, raw []byte) (Config, []*sdk.ConfigError) {
	cfg := base
	cfg.Addresses = append([]string(nil), base.Addresses...)
	if errs := sdk.DecodeConfig(raw, &cfg); errs != nil {
		return base, errs
	}
	var errs []*sdk.ConfigError
	if cfg.TimeoutMS < minTimeoutMS || cfg.TimeoutMS > maxTimeoutMS {
		errs = append(errs, &sdk.ConfigError{Key: "timeout_ms",
			Message: fmt.Sprintf("must be between %d and %d, got %d", minTimeoutMS, maxTimeoutMS, cfg.TimeoutMS)})
	}
	if cfg.MaxConcurrency < 1 || cfg.MaxConcurrency > maxMaxConcurrency {
		errs = append(errs, &sdk.ConfigError{Key: "max_concurrency",
			Message: fmt.Sprintf("must be between 1 and %d, got %d", maxMaxConcurrency, cfg.MaxConcurrency)})
	}
	for i, a := range cfg.Addresses {
		if err := checkAddress(a); err != nil {
			errs = append(errs, &sdk.ConfigError{Key: "addresses", Message: fmt.Sprintf("[%d] %q: %v", i, a, err)})
		}
	}
	if strings.ContainsRune(cfg.RayPath, 0) {
		errs = append(errs, &sdk.ConfigError{Key: "ray_path", Message: "must not contain NUL"})
	}
	if strings.ContainsAny(cfg.AuthToken, " \t\r\n\x00") {
		// The message must not echo the token.
		errs = append(errs, &sdk.ConfigError{Key: "auth_token", Message: "must not contain whitespace"})
	}
	if errs != nil {
		return base, errs
	}
	return cfg, nil
}

// checkAddress accepts a GCS address "host:port" (an IPv6 host in brackets).
func checkAddress(a string) error {
	if strings.Contains(a, "://") {
		return fmt.Errorf("want a GCS address host:port, not a URL")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("want host:port: %v", err)
	}
	if host == "" {
		return fmt.Errorf("empty host")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not a number between 1 and 65535", port)
	}
	return nil
}
