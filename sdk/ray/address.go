package ray

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Kind is what a Ray address points at.
type Kind string

const (
	// KindUnknown is a bare host:port: it may be a GCS, a dashboard or a
	// client server; Identify tells which.
	KindUnknown Kind = "unknown"
	// KindDashboard is the dashboard's HTTP server (http(s)://host:port).
	KindDashboard Kind = "dashboard"
	// KindGCS is the GCS gRPC server (RAY_ADDRESS host:port, usually 6379).
	KindGCS Kind = "gcs"
	// KindClientServer is the Ray client server (ray://host:port, usually 10001).
	KindClientServer Kind = "client_server"
	// KindDashboardAgent is a node's dashboard agent HTTP server (52365).
	// Identify reports it; ParseAddress never returns it.
	KindDashboardAgent Kind = "dashboard_agent"
	// KindLocal is RAY_ADDRESS=auto or local: "the cluster running on this
	// machine". It names no host; the caller must resolve it locally (e.g.
	// from ray_current_cluster or the running raylet's --gcs-address).
	KindLocal Kind = "local"
)

// Address is a parsed Ray address.
type Address struct {
	Kind Kind `json:"kind"`
	// Scheme is "http", "https", "ray" or "" (bare host:port, auto/local).
	Scheme string `json:"scheme,omitempty"`
	// Host has no brackets ("::1", "10.0.0.1", "ray-head.example").
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	// Path is a dashboard URL's base path without the trailing slash
	// ("" or "/ray" behind a proxy).
	Path string `json:"path,omitempty"`
	// Raw is the input, trimmed of surrounding white space.
	Raw string `json:"raw"`
}

// HostPort is "host:port" with IPv6 hosts bracketed; "" for KindLocal.
func (a Address) HostPort() string {
	if a.Host == "" {
		return ""
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// String is the canonical form: "http://host:port/path", "ray://host:port",
// "host:port", or "auto"/"local".
func (a Address) String() string {
	switch {
	case a.Kind == KindLocal:
		return a.Raw
	case a.Scheme == "":
		return a.HostPort()
	default:
		return a.Scheme + "://" + a.HostPort() + a.Path
	}
}

// ErrInvalidAddress is matched (errors.Is) by every ParseAddress error.
var ErrInvalidAddress = errors.New("invalid Ray address")

// AddressError is a malformed address; Problem says what is wrong, in
// words fit for an HTTP 400 answer.
type AddressError struct {
	Input   string
	Problem string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("invalid Ray address %q: %s", clip(e.Input), e.Problem)
}

// Is makes errors.Is(err, ErrInvalidAddress) true.
func (e *AddressError) Is(target error) bool { return target == ErrInvalidAddress }

// maxAddressLen bounds an address; Ray's are far shorter.
const maxAddressLen = 2048

// ParseAddress parses the addresses users give for a Ray cluster:
//
//   - "http://host:port[/path]", "https://…": the dashboard. Without a port
//     the scheme's default (80, 443) is used, for dashboards behind a proxy.
//   - "ray://host:port": the Ray client server. The port is required.
//   - "host:port": a bare address, KindUnknown (a GCS in RAY_ADDRESS, but it
//     may be anything: see Identify). The port is required.
//   - IPv6 hosts in brackets: "[::1]:8265", "http://[::1]:8265".
//   - "auto" and "local" (RAY_ADDRESS forms, any case): KindLocal, nil
//     error; the caller resolves them on this machine.
//
// Anything else is an *AddressError (errors.Is(err, ErrInvalidAddress)):
// empty input, white space or control characters inside, an unsupported
// scheme, a missing or out-of-range port, user info, a query or fragment,
// a path on a non-HTTP address, an unbracketed IPv6 address, an invalid
// host name.
func ParseAddress(s string) (Address, error) {
	raw := strings.TrimSpace(s)
	bad := func(format string, args ...any) (Address, error) {
		return Address{}, &AddressError{Input: raw, Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case raw == "":
		return bad("empty address")
	case len(raw) > maxAddressLen:
		return bad("longer than %d bytes", maxAddressLen)
	case strings.ContainsFunc(raw, func(r rune) bool { return r == ' ' || r == '\t' }):
		return bad("contains white space")
	case strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd }):
		return bad("contains control or invalid characters")
	}
	switch strings.ToLower(raw) {
	case "auto", "local":
		return Address{Kind: KindLocal, Raw: strings.ToLower(raw)}, nil
	}

	scheme, rest, hasScheme := strings.Cut(raw, "://")
	if !hasScheme {
		if strings.Contains(raw, "/") {
			return bad("a path needs an http:// or https:// scheme")
		}
		host, port, err := splitHostPort(raw, 0)
		if err != "" {
			return bad("%s", err)
		}
		return Address{Kind: KindUnknown, Host: host, Port: port, Raw: raw}, nil
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "http", "https":
		u, err := url.Parse(scheme + "://" + rest)
		if err != nil {
			return bad("not a URL: %s", unwrapURLError(err))
		}
		if u.User != nil {
			return bad("user info is not supported (pass the token separately)")
		}
		if u.RawQuery != "" || u.ForceQuery {
			return bad("a dashboard URL takes no query")
		}
		if u.Fragment != "" || strings.Contains(rest, "#") {
			return bad("a dashboard URL takes no fragment")
		}
		if u.Opaque != "" {
			return bad("not a URL")
		}
		def := 80
		if scheme == "https" {
			def = 443
		}
		host, port, perr := splitHostPort(u.Host, def)
		if perr != "" {
			return bad("%s", perr)
		}
		path := strings.TrimRight(u.EscapedPath(), "/")
		return Address{Kind: KindDashboard, Scheme: scheme, Host: host, Port: port, Path: path, Raw: raw}, nil
	case "ray":
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			if strings.Trim(rest[i:], "/") != "" {
				return bad("a ray:// address takes no path, query or fragment")
			}
			rest = rest[:i]
		}
		if strings.Contains(rest, "@") {
			return bad("user info is not supported")
		}
		host, port, err := splitHostPort(rest, 0)
		if err != "" {
			return bad("%s", err)
		}
		return Address{Kind: KindClientServer, Scheme: "ray", Host: host, Port: port, Raw: raw}, nil
	case "":
		return bad("missing scheme before ://")
	default:
		return bad("unsupported scheme %q (use http, https, ray or a bare host:port)", clip(scheme))
	}
}

// splitHostPort splits and checks "host:port"; def > 0 is the port used
// when there is none. It returns a problem description instead of an error.
func splitHostPort(hp string, def int) (string, int, string) {
	if hp == "" {
		return "", 0, "missing host"
	}
	var host, port string
	switch {
	case strings.HasPrefix(hp, "["):
		end := strings.Index(hp, "]")
		if end < 0 {
			return "", 0, "unclosed [ in IPv6 address"
		}
		host = hp[1:end]
		after := hp[end+1:]
		switch {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
			if port == "" {
				return "", 0, "empty port after ':'"
			}
		default:
			return "", 0, "unexpected text after ]"
		}
		zoneless, _, _ := strings.Cut(host, "%")
		if ip := net.ParseIP(zoneless); ip == nil || ip.To4() != nil && !strings.Contains(zoneless, ":") {
			return "", 0, fmt.Sprintf("%q in brackets is not an IPv6 address", clip(host))
		}
	case strings.Count(hp, ":") > 1:
		return "", 0, "an IPv6 address must be in brackets, e.g. [::1]:8265"
	default:
		var found bool
		host, port, found = strings.Cut(hp, ":")
		if found && port == "" {
			return "", 0, "empty port after ':'"
		}
		if host == "" {
			return "", 0, "missing host"
		}
		if !validHostName(host) {
			return "", 0, fmt.Sprintf("invalid host %q", clip(host))
		}
	}
	if port == "" {
		if def == 0 {
			return "", 0, "missing port (host:port)"
		}
		return host, def, ""
	}
	for _, r := range port {
		if r < '0' || r > '9' {
			return "", 0, fmt.Sprintf("port %q is not a number", clip(port))
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Sprintf("port %s out of range 1-65535", clip(port))
	}
	return host, p, ""
}

// validHostName accepts an IPv4 address or a DNS name (letters, digits,
// '-', '_', '.'; labels of at most 63 bytes; at most 253 bytes).
func validHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func unwrapURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// clip shortens and de-controls a string from user input or a remote answer
// for error messages.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 120 {
		cut := 120
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}
