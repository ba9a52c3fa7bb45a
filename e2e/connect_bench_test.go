package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
)

// BenchmarkConnectVsPython compares, against a live local Ray head, the
// time CastRay takes to connect to a cluster and list its nodes with what
// a Python user pays for the same:
//
//   - CastRay: POST /api/cluster/connect-external then
//     GET /api/nodes/external, against the running daemon (disconnected
//     with DELETE /api/cluster/disconnect-external between runs), once by
//     the GCS address and once by the dashboard URL;
//   - Python: the venv's python running
//     `import ray; ray.init(address=GCS); ray.nodes()`, timed as a whole
//     process and, separately, inside the script from just before
//     ray.init to just after ray.nodes() returned (the script prints it).
//
// Medians of 5, after one warm-up of each. The ratios (goal ≤ 0.2) are
// printed, not asserted.
func BenchmarkConnectVsPython(b *testing.B) {
	c := raycluster.Start(b, raycluster.Options{TempDir: benchTempDir(b)})
	d := startDaemon(b, daemonOpts{})

	castray := func(address string) func() time.Duration {
		return func() time.Duration {
			var res connected
			var nodes struct {
				Count int `json:"count"`
			}
			start := time.Now()
			code := d.do("POST", "/api/cluster/connect-external", map[string]string{"cluster_address": address}, &res)
			code2 := d.do("GET", "/api/nodes/external", nil, &nodes)
			took := time.Since(start)
			if code != 200 || !res.Success || code2 != 200 || nodes.Count < 1 {
				b.Fatalf("connect %s: %d %+v; nodes: %d count %d", address, code, res, code2, nodes.Count)
			}
			if code := d.do("DELETE", "/api/cluster/disconnect-external", nil, nil); code != 200 {
				b.Fatalf("disconnect: %d", code)
			}
			return took
		}
	}

	script := fmt.Sprintf(`
import time
import ray
t0 = time.perf_counter()
ray.init(address=%q, log_to_driver=False)
nodes = ray.nodes()
t1 = time.perf_counter()
print("CASTRAY_BENCH", t1 - t0, len(nodes), flush=True)
`, c.GCSAddress)
	pyBin := filepath.Join(filepath.Dir(c.RayBin), "python")
	var inScript []time.Duration
	python := func() time.Duration {
		cmd := exec.Command(pyBin, "-c", script)
		cmd.Dir, cmd.Env = c.TempDir, c.Env()
		start := time.Now()
		out, err := cmd.Output()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("python: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 3 && f[0] == "CASTRAY_BENCH" {
				s, err := strconv.ParseFloat(f[1], 64)
				if err != nil || f[2] == "0" {
					b.Fatalf("python printed %q", line)
				}
				inScript = append(inScript, time.Duration(s*float64(time.Second)))
				return took
			}
		}
		b.Fatalf("python printed no timing:\n%s", out)
		return 0
	}
	median := func(n int, f func() time.Duration) time.Duration {
		f() // warm-up: first connections, page cache
		var xs []time.Duration
		for i := 0; i < n; i++ {
			xs = append(xs, f())
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
		return xs[len(xs)/2]
	}
	const reps = 5
	byGCS := median(reps, castray(c.GCSAddress))
	byDash := median(reps, castray(c.DashboardURL))
	py := median(reps, python)
	inScript = inScript[1:] // the warm-up's
	sort.Slice(inScript, func(i, j int) bool { return inScript[i] < inScript[j] })
	pyIn := inScript[len(inScript)/2]

	ms := func(x time.Duration) string { return fmt.Sprintf("%.1f ms", float64(x.Microseconds())/1000) }
	b.Logf("connect + first node list vs Python (median of %d, live Ray %s head, daemon already running):", reps, c.RayVersion)
	b.Logf("  castray, by GCS address %-22s %s", c.GCSAddress, ms(byGCS))
	b.Logf("  castray, by dashboard URL %-20s %s", c.DashboardURL, ms(byDash))
	b.Logf("  python process (import ray; ray.init; ray.nodes())  %s", ms(py))
	b.Logf("  python in-script (ray.init + ray.nodes())           %s", ms(pyIn))
	b.Logf("  castray by GCS ÷ python process    = %.3f  [goal ≤ 0.2]", float64(byGCS)/float64(py))
	b.Logf("  castray by GCS ÷ python in-script  = %.3f  [goal ≤ 0.2]", float64(byGCS)/float64(pyIn))
	b.Logf("  castray by dashboard ÷ python process   = %.3f  [goal ≤ 0.2]", float64(byDash)/float64(py))
	b.Logf("  castray by dashboard ÷ python in-script = %.3f  [goal ≤ 0.2]", float64(byDash)/float64(pyIn))
	b.ReportMetric(float64(byGCS)/float64(py), "gcs/py-process")
	b.ReportMetric(float64(byGCS)/float64(pyIn), "gcs/py-inscript")
	b.ReportMetric(float64(byDash)/float64(py), "dash/py-process")
	b.ReportMetric(float64(byDash)/float64(pyIn), "dash/py-inscript")
}
