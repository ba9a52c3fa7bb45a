package discovery

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// MaxRequestBlock is the widest CIDR block a request may name: /16 in IPv4
// (65,536 addresses), as wide as the plugins scan.
const MaxRequestBlock = 16

// ScopeError is a request scope the manager refuses before any plugin
// runs: Forbidden when it is well-formed but outside the allowlist.
type ScopeError struct {
	Forbidden bool
	Msg       string
}

func (e *ScopeError) Error() string { return e.Msg }

// Scope is the allowlist of what a request may name in Request.Hosts:
// address blocks and host names (names are compared, never resolved).
type Scope struct {
	prefixes []netip.Prefix
	names    map[string]bool
	// what says where the list comes from, for error messages.
	what string
}

// ParseScope reads an allowlist (IP addresses, CIDR blocks, host names);
// what names its source in errors (a config key).
func ParseScope(what string, entries []string) (*Scope, error) {
	s := &Scope{names: map[string]bool{}, what: what}
	for _, e := range entries {
		p, name, err := parseHost(e, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if name != "" {
			s.names[name] = true
		} else {
			s.prefixes = append(s.prefixes, p)
		}
	}
	return s, nil
}

// ThisMachine is the default allowlist: loopback, the addresses of this
// machine's interfaces, "localhost" and the host name.
func ThisMachine(what string) *Scope {
	s := &Scope{names: map[string]bool{"localhost": true}, what: what,
		prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	if h, err := os.Hostname(); err == nil && h != "" {
		s.names[strings.ToLower(h)] = true
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
					ip = ip.Unmap()
					s.prefixes = append(s.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
				}
			}
		}
	}
	return s
}

// Check validates a request's hosts and ports: every port in 1..65535,
// every host an IP address, a CIDR block with no host bits set and at most
// /MaxRequestBlock wide, or a host name; and, with an allowlist (s not
// nil), inside it.
func (s *Scope) Check(req Request) error {
	for _, p := range req.Ports {
		if p < 1 || p > 65535 {
			return &ScopeError{Msg: fmt.Sprintf("ports: %d is not a port (1-65535)", p)}
		}
	}
	for _, h := range req.Hosts {
		p, name, err := parseHost(h, MaxRequestBlock)
		if err != nil {
			return &ScopeError{Msg: "hosts: " + err.Error()}
		}
		if s == nil {
			continue
		}
		if name != "" {
			if !s.names[name] {
				return &ScopeError{Forbidden: true, Msg: fmt.Sprintf("hosts: %q is not in %s (host names are matched as listed, never resolved): add it there, or give its address", h, s.what)}
			}
			continue
		}
		if !s.allows(p) {
			return &ScopeError{Forbidden: true, Msg: fmt.Sprintf("hosts: %s is outside %s: add it there to scan it", h, s.what)}
		}
	}
	return nil
}

func (s *Scope) allows(p netip.Prefix) bool {
	for _, a := range s.prefixes {
		if a.Addr().Is4() == p.Addr().Is4() && a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// parseHost reads one host entry: an IP address (as a one-address prefix),
// a CIDR block (no host bits set; at most widest bits of host part when
// widest > 0), or a host name (returned lower case). Something that looks
// like an IPv4 address but is none is an error, not a name to look up.
func parseHost(h string, widest int) (netip.Prefix, string, error) {
	if h == "" {
		return netip.Prefix{}, "", fmt.Errorf("an empty host")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	if strings.Contains(h, "/") {
		p, err := netip.ParsePrefix(h)
		if err != nil {
			return netip.Prefix{}, "", fmt.Errorf("%q is not a CIDR block: %v", h, err)
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, "", fmt.Errorf("%s has host bits set: did you mean %s?", h, m)
		}
		if widest > 0 && p.Addr().BitLen()-p.Bits() > widest {
			return netip.Prefix{}, "", fmt.Errorf("%s is wider than /%d (%d addresses at most)", h, p.Addr().BitLen()-widest, 1<<widest)
		}
		return p, "", nil
	}
	if strings.Trim(h, "0123456789.") == "" || strings.Contains(h, ":") {
		return netip.Prefix{}, "", fmt.Errorf("%q is not an IP address", h)
	}
	if !validName(h) {
		return netip.Prefix{}, "", fmt.Errorf("%q is neither an IP address, a CIDR block nor a host name", h)
	}
	return netip.Prefix{}, strings.ToLower(strings.TrimSuffix(h, ".")), nil
}

// validName is DNS host-name syntax: dot-separated labels of letters,
// digits and inner hyphens, 1-63 bytes each, 253 in all.
func validName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
