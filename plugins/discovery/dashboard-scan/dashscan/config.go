package dashscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/castray/castray/sdk"
)

// Config is the plugin's config block. The same keys are accepted as
// per-call overrides in DiscoverRequest.config_json.
type Config struct {
	// Hosts are host names, IP addresses or CIDR blocks to probe.
	Hosts []string `json:"hosts"`
	// Ports and PortRanges ("8265-8269" or "8265") are merged into one
	// set of ports. When neither key is given, PortRanges is
	// ["8265-8269"]; giving either key replaces both defaults.
	Ports      []int    `json:"ports"`
	PortRanges []string `json:"port_ranges"`
	// Scheme is "http" or "https".
	Scheme string `json:"scheme"`
	// Concurrency bounds the probes in flight.
	Concurrency int `json:"concurrency"`
	// ProbeTimeoutMS is the budget of one request while recognising a
	// dashboard, used when the request carries no probe_timeout_ms.
	ProbeTimeoutMS int `json:"probe_timeout_ms"`
	// DetailTimeoutMS is the budget of one request that reads a recognised
	// dashboard's nodes and resources (the State API can be slower than a
	// health check on a large cluster).
	DetailTimeoutMS int `json:"detail_timeout_ms"`
	// NodeLimit is the State API's limit parameter (Ray caps it at 10000).
	NodeLimit int `json:"node_limit"`
	// AuthToken is the Ray auth token. Empty: RAY_AUTH_TOKEN, then the file
	// named by RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token.
	AuthToken string `json:"auth_token"`
	// MaxHosts bounds the hosts of one round after CIDR expansion.
	MaxHosts int `json:"max_hosts"`
	// AllowWideScan permits CIDR blocks wider than /24 (IPv4) or /120
	// (IPv6), max_hosts above 256 and more than 256 ports.
	AllowWideScan bool `json:"allow_wide_scan"`
	// TLSSkipVerify skips certificate verification with scheme "https".
	TLSSkipVerify bool `json:"tls_skip_verify"`
}

const (
	defaultPortRange = "8265-8269"
	// narrowMaxHosts is the most hosts (a /24) and ports a round may
	// probe without allow_wide_scan.
	narrowMaxHosts = 256
	narrowMaxPorts = 256
	// wideMaxHosts is the hard ceiling, even with allow_wide_scan.
	wideMaxHosts = 65536
	// maxNodeLimit is the State API's own ceiling.
	maxNodeLimit = 10000
)

func defaultConfig() Config {
	return Config{
		Hosts:           []string{"127.0.0.1"},
		PortRanges:      []string{defaultPortRange},
		Scheme:          "http",
		Concurrency:     32,
		ProbeTimeoutMS:  1000,
		DetailTimeoutMS: 5000,
		NodeLimit:       maxNodeLimit,
		MaxHosts:        narrowMaxHosts,
	}
}

// schema describes every key.
func schema() *sdk.ConfigSchema {
	d := defaultConfig()
	js := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	return &sdk.ConfigSchema{Fields: []*sdk.ConfigField{
		{Name: "hosts", Type: "list(string)", Description: "Host names, IP addresses or CIDR blocks to probe (a request's hosts replace them).", DefaultJson: js(d.Hosts)},
		{Name: "ports", Type: "list(int)", Description: "Ports to probe, merged with port_ranges (a request's ports replace both).", DefaultJson: "[]"},
		{Name: "port_ranges", Type: "list(string)", Description: `Port ranges "from-to" (or one port), merged with ports. Defaults to ["8265-8269"] only when neither ports nor port_ranges is set.`, DefaultJson: js(d.PortRanges)},
		{Name: "scheme", Type: "string", Description: `"http" or "https".`, DefaultJson: js(d.Scheme)},
		{Name: "concurrency", Type: "int", Description: "Most probes in flight at once (1-1024).", DefaultJson: js(d.Concurrency)},
		{Name: "probe_timeout_ms", Type: "int", Description: "Budget of one recognition request in ms when the request sets none (50-60000).", DefaultJson: js(d.ProbeTimeoutMS)},
		{Name: "detail_timeout_ms", Type: "int", Description: "Budget of one request that reads a recognised dashboard's nodes and resources, in ms (100-120000).", DefaultJson: js(d.DetailTimeoutMS)},
		{Name: "node_limit", Type: "int", Description: "limit of the State API node list (1-10000).", DefaultJson: js(d.NodeLimit)},
		{Name: "auth_token", Type: "string", Description: "Ray auth token (secret; never logged). Empty: RAY_AUTH_TOKEN, then the file named by RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token. Sent only to dashboards that announce token auth.", DefaultJson: `""`},
		{Name: "max_hosts", Type: "int", Description: "Most hosts one round may probe after CIDR expansion (1-256; up to 65536 with allow_wide_scan).", DefaultJson: js(d.MaxHosts)},
		{Name: "allow_wide_scan", Type: "bool", Description: "Allow CIDR blocks wider than /24 (IPv4) or /120 (IPv6), max_hosts above 256 and more than 256 ports.", DefaultJson: "false"},
		{Name: "tls_skip_verify", Type: "bool", Description: `With scheme "https": do not verify the dashboard's certificate.`, DefaultJson: "false"},
	}}
}

// applyConfig decodes raw on top of base and validates the result. A raw
// object that names ports or port_ranges replaces both of base's.
func applyConfig(base Config, raw []byte) (Config, []*sdk.ConfigError) {
	cfg := base
	cfg.Hosts = append([]string(nil), base.Hosts...)
	cfg.Ports = append([]int(nil), base.Ports...)
	cfg.PortRanges = append([]string(nil), base.PortRanges...)
	if len(bytes.TrimSpace(raw)) > 0 {
		var keys map[string]json.RawMessage
		if json.Unmarshal(raw, &keys) == nil {
			_, p := keys["ports"]
			_, r := keys["port_ranges"]
			if p || r {
				cfg.Ports, cfg.PortRanges = nil, nil
			}
		}
		if errs := sdk.DecodeConfig(raw, &cfg); errs != nil {
			return Config{}, errs
		}
	}
	if errs := cfg.validate(); errs != nil {
		return Config{}, errs
	}
	cfg.AuthToken = strings.TrimSpace(cfg.AuthToken)
	return cfg, nil
}

func (c Config) validate() []*sdk.ConfigError {
	var errs []*sdk.ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &sdk.ConfigError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	inRange := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(key, "must be between %d and %d, got %d", lo, hi, v)
		}
	}
	switch c.Scheme {
	case "http", "https":
	default:
		bad("scheme", `must be "http" or "https", got %q`, c.Scheme)
	}
	inRange("concurrency", c.Concurrency, 1, 1024)
	inRange("probe_timeout_ms", c.ProbeTimeoutMS, 50, 60000)
	inRange("detail_timeout_ms", c.DetailTimeoutMS, 100, 120000)
	inRange("node_limit", c.NodeLimit, 1, maxNodeLimit)
	maxHostsCeiling := narrowMaxHosts
	if c.AllowWideScan {
		maxHostsCeiling = wideMaxHosts
	}
	if c.MaxHosts < 1 || c.MaxHosts > maxHostsCeiling {
		hint := ""
		if !c.AllowWideScan && c.MaxHosts > narrowMaxHosts {
			hint = " (set allow_wide_scan = true for more)"
		}
		bad("max_hosts", "must be between 1 and %d, got %d%s", maxHostsCeiling, c.MaxHosts, hint)
	}
	if tok := strings.TrimSpace(c.AuthToken); strings.ContainsFunc(tok, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		// Never echo the token itself.
		bad("auth_token", "must be one line without spaces or control characters")
	}

	if len(c.Hosts) == 0 {
		bad("hosts", "must name at least one host")
	}
	for i, h := range c.Hosts {
		if _, err := parseHost(h, c.AllowWideScan); err != nil {
			bad(fmt.Sprintf("hosts[%d]", i), "%v", err)
		}
	}
	if len(errs) == 0 && c.MaxHosts >= 1 {
		if _, err := expandHosts(c.Hosts, c.MaxHosts, c.AllowWideScan); err != nil {
			bad("hosts", "%v", err)
		}
	}

	for i, p := range c.Ports {
		if p < 1 || p > 65535 {
			bad(fmt.Sprintf("ports[%d]", i), "must be between 1 and 65535, got %d", p)
		}
	}
	for i, r := range c.PortRanges {
		if _, _, err := parsePortRange(r); err != nil {
			bad(fmt.Sprintf("port_ranges[%d]", i), "%v", err)
		}
	}
	if len(errs) == 0 {
		ports := c.portList()
		switch {
		case len(ports) == 0:
			bad("ports", "ports and port_ranges are both empty: nothing to probe")
		case len(ports) > narrowMaxPorts && !c.AllowWideScan:
			key := "port_ranges"
			if len(c.PortRanges) == 0 {
				key = "ports"
			}
			bad(key, "%d ports exceed %d; set allow_wide_scan = true to probe that many", len(ports), narrowMaxPorts)
		}
	}
	return errs
}

// portList is the sorted union of Ports and PortRanges (validated).
func (c Config) portList() []int {
	set := map[int]bool{}
	for _, p := range c.Ports {
		if p >= 1 && p <= 65535 {
			set[p] = true
		}
	}
	for _, r := range c.PortRanges {
		lo, hi, err := parsePortRange(r)
		if err != nil {
			continue
		}
		for p := lo; p <= hi; p++ {
			set[p] = true
		}
	}
	out := make([]int, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// parsePortRange parses "8265-8269" or "8265".
func parsePortRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	lo, err = strconv.Atoi(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, fmt.Errorf(`want "from-to" or one port, got %q`, s)
	}
	hi = lo
	if isRange {
		hi, err = strconv.Atoi(strings.TrimSpace(b))
		if err != nil {
			return 0, 0, fmt.Errorf(`want "from-to" or one port, got %q`, s)
		}
	}
	if lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("want 1 <= from <= to <= 65535, got %q", s)
	}
	return lo, hi, nil
}

// hostSpec is one parsed hosts entry.
type hostSpec struct {
	name   string       // a host name or a single address, as given
	prefix netip.Prefix // valid for a CIDR block
}

// parseHost accepts a host name, an IP address or a CIDR block. CIDR blocks
// wider than /24 (IPv4) or /120 (IPv6) need allow_wide_scan.
func parseHost(h string, wide bool) (hostSpec, error) {
	h = strings.TrimSpace(h)
	switch {
	case h == "":
		return hostSpec{}, fmt.Errorf("empty host")
	case strings.Contains(h, "://"):
		return hostSpec{}, fmt.Errorf("%q: want a host, address or CIDR block, not a URL (use scheme and ports)", h)
	}
	if strings.Contains(h, "/") {
		p, err := netip.ParsePrefix(h)
		if err != nil {
			return hostSpec{}, fmt.Errorf("%q: invalid CIDR block: %v", h, err)
		}
		p = p.Masked()
		if !wide {
			if p.Addr().Is4() && p.Bits() < 24 {
				return hostSpec{}, fmt.Errorf("%q is wider than /24; set allow_wide_scan = true to scan it", h)
			}
			if !p.Addr().Is4() && p.Bits() < 120 {
				return hostSpec{}, fmt.Errorf("%q is wider than /120; set allow_wide_scan = true to scan it", h)
			}
		}
		return hostSpec{prefix: p}, nil
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return hostSpec{name: a.String()}, nil
	}
	if _, _, err := splitHostPortStrict(h); err == nil {
		return hostSpec{}, fmt.Errorf("%q: want a host without a port (use ports)", h)
	}
	if !validHostname(h) {
		return hostSpec{}, fmt.Errorf("%q is not a host name, IP address or CIDR block", h)
	}
	return hostSpec{name: strings.ToLower(h)}, nil
}

func splitHostPortStrict(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, fmt.Errorf("no port")
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return "", 0, err
	}
	return s[:i], p, nil
}

// validHostname checks RFC 1123 host name syntax.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// expandHosts turns the hosts entries into the deduplicated list of hosts
// to probe, refusing more than maxHosts. It sizes CIDR blocks before
// expanding them, so a huge block costs nothing.
func expandHosts(entries []string, maxHosts int, wide bool) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(h string) error {
		if seen[h] {
			return nil
		}
		if len(out) >= maxHosts {
			return fmt.Errorf("more than max_hosts = %d hosts to probe", maxHosts)
		}
		seen[h] = true
		out = append(out, h)
		return nil
	}
	for _, e := range entries {
		spec, err := parseHost(e, wide)
		if err != nil {
			return nil, err
		}
		if !spec.prefix.IsValid() {
			if err := add(spec.name); err != nil {
				return nil, err
			}
			continue
		}
		p := spec.prefix
		hostBits := p.Addr().BitLen() - p.Bits()
		size := new(big.Int).Lsh(big.NewInt(1), uint(hostBits))
		if size.Cmp(big.NewInt(int64(maxHosts)+2)) > 0 {
			return nil, fmt.Errorf("%s holds %s addresses, more than max_hosts = %d", p, size, maxHosts)
		}
		first, last := p.Addr(), lastAddr(p)
		// An IPv4 block of 4 or more addresses: skip the network and
		// broadcast addresses.
		if p.Addr().Is4() && hostBits >= 2 {
			first, last = first.Next(), last.Prev()
		}
		for a := first; a.IsValid() && a.Compare(last) <= 0; a = a.Next() {
			if err := add(a.String()); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	hostBits := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		b[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
