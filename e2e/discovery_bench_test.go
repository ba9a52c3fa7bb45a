package e2e

import (
	"fmt"
	"net"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
)

// BenchmarkDiscovery prints the discovery figures of `make bench` against a
// live Ray head, each next to its baseline from the same run:
//
//   - a full round ÷ the slowest single strategy run alone (goal ≤ 1.1);
//   - a round without ray-status ÷ the `ray status` CLI alone (goal ≤ 0.1);
//   - portscan of one host × 20 closed loopback ports.
//
// It is a benchmark so that `go test` never runs it by accident; the figures
// are printed, not asserted.
func BenchmarkDiscovery(b *testing.B) {
	c := raycluster.Start(b, raycluster.Options{DashboardPort: 8265, TempDir: benchTempDir(b)})
	d := startDaemon(b, daemonOpts{config: discoveryConfig(c.RayBin, c.TempDir), env: []string{"RAY_ADDRESS=" + c.GCSAddress}})

	round := func(plugins []string, ports []int) time.Duration {
		body := map[string]any{}
		if plugins != nil {
			body["plugins"] = plugins
		}
		if ports != nil {
			body["ports"] = ports
		}
		var res discovered
		start := time.Now()
		if code := d.do("POST", "/api/cluster/discover-external", body, &res); code != 200 {
			b.Fatalf("discover: %d", code)
		}
		return time.Since(start)
	}
	median := func(n int, f func() time.Duration) time.Duration {
		var xs []time.Duration
		for i := 0; i < n; i++ {
			xs = append(xs, f())
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
		return xs[len(xs)/2]
	}
	const reps = 5
	round(nil, nil) // warm-up: first connections, page cache

	all := median(reps, func() time.Duration { return round(nil, nil) })
	single := map[string]time.Duration{}
	var slowest string
	for _, p := range []string{"ray-status", "dashboard-scan", "tmpdir", "portscan"} {
		single[p] = median(reps, func() time.Duration { return round([]string{p}, nil) })
		if slowest == "" || single[p] > single[slowest] {
			slowest = p
		}
	}
	noCLI := median(reps, func() time.Duration { return round([]string{"dashboard-scan", "tmpdir", "portscan"}, nil) })
	cli := median(reps, func() time.Duration {
		start := time.Now()
		if out, err := c.Ray("status"); err != nil {
			b.Fatalf("ray status: %v\n%s", err, out)
		}
		return time.Since(start)
	})
	closed := closedPorts(b, 20)
	scan := median(reps, func() time.Duration { return round([]string{"portscan"}, closed) })

	ms := func(x time.Duration) string { return fmt.Sprintf("%.0f ms", float64(x.Microseconds())/1000) }
	b.Logf("discovery figures (median of %d, via POST /api/cluster/discover-external):", reps)
	for _, p := range []string{"ray-status", "dashboard-scan", "tmpdir", "portscan"} {
		b.Logf("  %-16s alone          %s", p, ms(single[p]))
	}
	b.Logf("  round, all four            %s  ÷ slowest (%s) %s = %.2f  [goal ≤ 1.1]", ms(all), slowest, ms(single[slowest]), float64(all)/float64(single[slowest]))
	b.Logf("  round without ray-status   %s  ÷ `ray status` CLI %s = %.3f  [goal ≤ 0.1]", ms(noCLI), ms(cli), float64(noCLI)/float64(cli))
	b.Logf("  portscan, 1 host × 20 closed ports  %s (HTTP round trip included)", ms(scan))
	b.ReportMetric(float64(all)/float64(single[slowest]), "round/slowest")
	b.ReportMetric(float64(noCLI)/float64(cli), "no-cli/ray-status-cli")
	b.ReportMetric(float64(scan.Microseconds())/1000, "portscan-20closed-ms")
}

// closedPorts returns n loopback ports that nothing listens on.
func closedPorts(b *testing.B, n int) []int {
	var out []int
	for len(out) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
	return out
}

func benchTempDir(b *testing.B) string {
	dir, err := os.MkdirTemp("/tmp", "crt-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
