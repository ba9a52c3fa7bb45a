package sdk

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

// MaxProbeTargets bounds the targets of one ProbeEach call: a request or a
// configuration naming more (a CIDR block wider than /16, say) is refused.
const MaxProbeTargets = 1 << 16

// probeParallelism is how many probes of one ProbeEach call run at once.
const probeParallelism = 32

// ProbeEach calls probe once for each host and port of a Discover request
// and returns the call's summary: what a discovery strategy that
// probes addresses needs, so its Discover can be a single call.
//
// The targets are req.Hosts × req.Ports, where the request leaves either
// empty the plugin's defaults stand in (hosts, ports: its configuration);
// host entries may be names, IP addresses or CIDR blocks (expanded, at most
// MaxProbeTargets in all). Probes run concurrently, each under a context
// bounded by req.probe_timeout_ms (when set) as well as ctx, so probe may
// report to the sink directly (sinks are safe for concurrent use). The
// first error probe returns (a failed sink call: the daemon has gone away)
// stops the others and is returned; a target where nothing answers is not
// an error: probe returns nil. The summary counts the probes started; the
// candidates reported are counted by the SDK.
func ProbeEach(ctx context.Context, req *DiscoverRequest, hosts []string, ports []uint32, probe func(ctx context.Context, host string, port int) error) (*DiscoverSummary, error) {
	if len(req.GetHosts()) > 0 {
		hosts = req.GetHosts()
	}
	if len(req.GetPorts()) > 0 {
		ports = req.GetPorts()
	}
	targets, err := Targets(hosts, ports)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	timeout := time.Duration(req.GetProbeTimeoutMs()) * time.Millisecond
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(probeParallelism)
	sum := &DiscoverSummary{}
	for _, target := range targets {
		if gctx.Err() != nil {
			break
		}
		host, port, _ := net.SplitHostPort(target)
		portNum, _ := strconv.Atoi(port)
		sum.Probes++
		g.Go(func() error {
			pctx, cancel := gctx, context.CancelFunc(func() {})
			if timeout > 0 {
				pctx, cancel = context.WithTimeout(gctx, timeout)
			}
			defer cancel()
			return probe(pctx, host, portNum)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return sum, ctx.Err()
}

// Targets returns every "host:port" of hosts × ports, expanding CIDR blocks
// into their addresses (at most MaxProbeTargets targets in all). IPv6
// addresses are bracketed ("[::1]:8265").
func Targets(hosts []string, ports []uint32) ([]string, error) {
	var out []string
	add := func(host string) error {
		for _, p := range ports {
			if len(out) >= MaxProbeTargets {
				return fmt.Errorf("more than %d probe targets", MaxProbeTargets)
			}
			out = append(out, net.JoinHostPort(host, strconv.FormatUint(uint64(p), 10)))
		}
		return nil
	}
	for _, h := range hosts {
		prefix, err := netip.ParsePrefix(h)
		if err != nil {
			if err := add(h); err != nil {
				return nil, err
			}
			continue
		}
		if free := prefix.Addr().BitLen() - prefix.Bits(); free > 16 {
			return nil, fmt.Errorf("CIDR block %s: more than %d addresses", h, MaxProbeTargets)
		}
		for a := prefix.Masked().Addr(); prefix.Contains(a); a = a.Next() {
			if err := add(a.String()); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
