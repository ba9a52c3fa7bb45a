package scan

import (
	"fmt"
	"iter"
	"net"
	"net/netip"
	"strings"

	"github.com/castray/castray/sdk/ray"
)

// Limits of one host entry. A block wider than a /24 (IPv4) or a /120
// (IPv6), i.e. more than 256 addresses, needs allow_wide_scan; nothing wider
// than a /16 (IPv4) or /112 (IPv6), 65,536 addresses, is scanned at all.
const (
	narrowAddrs = 256
	maxAddrs    = 65536
)

// role is what a port is expected to serve; it only orders the probes (a
// port is fingerprinted by what it answers, not by its number).
type role int

const (
	roleUnknown role = iota
	roleGCS
	roleClient
	roleDashboard
	roleAgent
)

func (r role) String() string {
	switch r {
	case roleGCS:
		return "gcs"
	case roleClient:
		return "client"
	case roleDashboard:
		return "dashboard"
	case roleAgent:
		return "agent"
	}
	return "unknown"
}

// kind is the Ray component the role expects, which orders sdk/ray's
// probes (HTTP first for a dashboard or agent, gRPC first otherwise).
func (r role) kind() ray.Kind {
	switch r {
	case roleGCS:
		return ray.KindGCS
	case roleClient:
		return ray.KindClientServer
	case roleDashboard:
		return ray.KindDashboard
	case roleAgent:
		return ray.KindDashboardAgent
	}
	return ""
}

// Ray's well-known ports (Ray 2.60 defaults).
const (
	portGCS    = 6379
	portClient = 10001
	portAgent  = 52365
)

var dashboardPorts = []int{8265, 8266, 8267, 8268, 8269}

// portSpec is one port to probe and the protocol to try first.
type portSpec struct {
	Port int
	Role role
}

// defaultPorts is the configured port list: GCS 6379 and gcs_ports, client
// server 10001, dashboard 8265-8269, dashboard agent 52365, then extra_ports;
// duplicates dropped, first role wins.
func defaultPorts(gcsPorts, extraPorts []int) []portSpec {
	var out []portSpec
	seen := map[int]bool{}
	add := func(p int, r role) {
		if !seen[p] {
			seen[p] = true
			out = append(out, portSpec{Port: p, Role: r})
		}
	}
	add(portGCS, roleGCS)
	for _, p := range gcsPorts {
		add(p, roleGCS)
	}
	add(portClient, roleClient)
	for _, p := range dashboardPorts {
		add(p, roleDashboard)
	}
	add(portAgent, roleAgent)
	for _, p := range extraPorts {
		add(p, roleUnknown)
	}
	return out
}

// requestPorts turns a request's port list into specs, keeping the role of a
// port the configuration knows.
func requestPorts(ports []uint32, known []portSpec) []portSpec {
	roles := map[int]role{}
	for _, k := range known {
		roles[k.Port] = k.Role
	}
	var out []portSpec
	seen := map[int]bool{}
	for _, p := range ports {
		if p == 0 || p > 65535 || seen[int(p)] {
			continue
		}
		seen[int(p)] = true
		out = append(out, portSpec{Port: int(p), Role: roles[int(p)]})
	}
	return out
}

// hostEntry is one validated entry of a host list: a single host (name or
// address) or an address block.
type hostEntry struct {
	raw    string
	host   string       // a single host
	prefix netip.Prefix // or a block
	count  int          // number of addresses to probe
}

// parseHostEntry validates one entry of `hosts`. Wide blocks are refused
// unless allowWide; blocks beyond maxAddrs always.
func parseHostEntry(raw string, allowWide bool) (hostEntry, error) {
	s := strings.TrimSpace(raw)
	e := hostEntry{raw: raw}
	if s == "" {
		return e, fmt.Errorf("empty host")
	}
	if strings.Contains(s, "://") {
		return e, fmt.Errorf("%q is not a host name, an IP address or a CIDR block (ports go in `ports`)", raw)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return e, fmt.Errorf("%q is not a valid CIDR block: %v", raw, err)
		}
		p = p.Masked()
		hostBits := p.Addr().BitLen() - p.Bits()
		if hostBits > 16 {
			return e, fmt.Errorf("%q has %s addresses; at most %d (a /%d) can be scanned", raw, blockSize(hostBits), maxAddrs, p.Addr().BitLen()-16)
		}
		n := 1 << hostBits
		if n > narrowAddrs && !allowWide {
			return e, fmt.Errorf("%q has %d addresses, more than a /%d; set allow_wide_scan = true to scan it", raw, n, p.Addr().BitLen()-8)
		}
		e.prefix = p
		e.count = n
		if p.Addr().Is4() && p.Bits() <= 30 {
			e.count -= 2 // network and broadcast addresses are skipped
		}
		return e, nil
	}
	h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		e.host = a.String()
		e.count = 1
		return e, nil
	}
	if strings.ContainsAny(h, ":/@ ") {
		return e, fmt.Errorf("%q is not a host name, an IP address or a CIDR block (ports go in `ports`)", raw)
	}
	if len(h) > 253 || !validHostname(h) {
		return e, fmt.Errorf("%q is not a valid host name", raw)
	}
	e.host = h
	e.count = 1
	return e, nil
}

func blockSize(hostBits int) string {
	if hostBits >= 63 {
		return fmt.Sprintf("2^%d", hostBits)
	}
	return fmt.Sprint(uint64(1) << hostBits)
}

func validHostname(h string) bool {
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
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

// addrs yields the hosts of the entry, in order.
func (e hostEntry) addrs() iter.Seq[string] {
	return func(yield func(string) bool) {
		if e.host != "" {
			yield(e.host)
			return
		}
		p := e.prefix
		a := p.Addr()
		skipEnds := a.Is4() && p.Bits() <= 30
		n := 1 << (a.BitLen() - p.Bits())
		for i := 0; i < n; i++ {
			cur := a
			a = a.Next()
			if skipEnds && (i == 0 || !p.Contains(a)) {
				continue
			}
			if !yield(cur.String()) {
				return
			}
			if !a.IsValid() {
				return
			}
		}
	}
}

// joinHostPort is net.JoinHostPort with an int port.
func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, fmt.Sprint(port))
}

// isLoopback reports whether host is a loopback address or "localhost".
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
