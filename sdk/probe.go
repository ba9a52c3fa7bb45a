package sdk

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// MaxProbeTargets bounds the targets of one ProbeEach call: a request or a
// configuration naming more (a CIDR block wider than /16, say) is refused.
const MaxProbeTargets = 1 << 16

// probeParallelism is how many probes of one ProbeEach call run at once.
const probeParallelism = 32

// ProbeEach calls probe once for each "host:port" target of a Discover
// request and returns the call's summary: what a discovery strategy that
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
func ProbeEach(ctx context.Context, req *DiscoverRequest, hosts []string, ports []uint32, probe func(ctx context.Context, target string) error) (*DiscoverSummary, error) {
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timeout := time.Duration(req.GetProbeTimeoutMs()) * time.Millisecond
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sum      = &DiscoverSummary{}
		slots    = make(chan struct{}, probeParallelism)
	)
	for _, target := range targets {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		sum.Probes++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			pctx, pcancel := ctx, context.CancelFunc(func() {})
			if timeout > 0 {
				pctx, pcancel = context.WithTimeout(ctx, timeout)
			}
			defer pcancel()
			if err := probe(pctx, target); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
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
