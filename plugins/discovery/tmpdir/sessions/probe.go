package sessions

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// PortChecker tells whether something accepts TCP connections at an address. The default
// dials and closes at once; tests inject a fake so no real port is touched.
type PortChecker interface {
	// Check connects to addr ("host:port") within ctx and closes the connection; nil means
	// the port accepted it.
	Check(ctx context.Context, addr string) error
}

type tcpChecker struct{}

func (tcpChecker) Check(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// probeScope says which GCS addresses the plugin may connect to in one Discover call.
// Session files describe clusters of this machine, so by default only loopback and the
// machine's own addresses are dialled (Ray 2.60 puts the node's primary IP in the GCS
// address); a request's hosts replace that default, its ports narrow it.
type probeScope struct {
	hosts []hostMatch     // from the request; empty: local only
	ports map[uint32]bool // from the request; empty: any
	local map[string]bool // this machine's interface addresses
}

type hostMatch struct {
	ip   net.IP
	cidr *net.IPNet
	name string
}

// newProbeScope builds the scope of a request. Entries of hosts that are neither IPs,
// CIDRs nor host names are returned as problems.
func newProbeScope(hosts []string, ports []uint32, localAddrs func() ([]net.Addr, error)) (*probeScope, []string) {
	s := &probeScope{local: map[string]bool{}}
	var problems []string
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
		case strings.Contains(h, "/"):
			_, n, err := net.ParseCIDR(h)
			if err != nil {
				problems = append(problems, fmt.Sprintf("hosts: %q is not a CIDR block", h))
				continue
			}
			s.hosts = append(s.hosts, hostMatch{cidr: n})
		case net.ParseIP(h) != nil:
			s.hosts = append(s.hosts, hostMatch{ip: net.ParseIP(h)})
		case validHost(h):
			s.hosts = append(s.hosts, hostMatch{name: strings.ToLower(h)})
		default:
			problems = append(problems, fmt.Sprintf("hosts: %q is not a host, IP or CIDR", h))
		}
	}
	if len(ports) > 0 {
		s.ports = map[uint32]bool{}
		for _, p := range ports {
			s.ports[p] = true
		}
	}
	if len(s.hosts) == 0 && localAddrs != nil {
		if addrs, err := localAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					s.local[n.IP.String()] = true
				}
			}
		}
	}
	return s, problems
}

// allows says whether host:port may be dialled, and why not.
func (s *probeScope) allows(host string, port int) (bool, string) {
	if s.ports != nil && !s.ports[uint32(port)] {
		return false, fmt.Sprintf("port %d is outside the request's ports", port)
	}
	ip := net.ParseIP(host)
	if len(s.hosts) == 0 {
		switch {
		case ip == nil && strings.EqualFold(host, "localhost"):
			return true, ""
		case ip != nil && (ip.IsLoopback() || s.local[ip.String()]):
			return true, ""
		}
		return false, fmt.Sprintf("%s is not an address of this machine", host)
	}
	for _, m := range s.hosts {
		switch {
		case m.ip != nil && ip != nil && m.ip.Equal(ip),
			m.cidr != nil && ip != nil && m.cidr.Contains(ip),
			m.name != "" && strings.EqualFold(m.name, host):
			return true, ""
		}
	}
	return false, fmt.Sprintf("%s is outside the request's hosts", host)
}
