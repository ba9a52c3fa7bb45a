package raystatus

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const gib = 1 << 30

// near compares memory figures, which `ray status` rounds to 0.01 of a unit.
func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want)) }

func TestParseCaptures(t *testing.T) {
	const (
		head260   = "2ccc7a53d0ee7d1d7f5e32b6d7ea7175ccdc284308fefeaa7c55f8c2"
		worker260 = "600374830cd39b21e9c608ed8ea0c599e772bf95cbcfecf61910fc7f"
	)
	tests := []struct {
		file         string
		layout       string
		idleSection  bool
		time         string
		nodes        int
		active, idle int
		ids          []string
		totals, used map[string]float64
		demands      int
		constraints  int
	}{
		{
			file: "ray-2.60.0_v1_1node_e2e-capture.txt", layout: LayoutPendingDemands,
			nodes: 1, active: 1,
			totals: map[string]float64{"CPU": 1, "memory": 16.10 * gib, "object_store_memory": 6.90 * gib},
			used:   map[string]float64{"CPU": 0, "memory": 0, "object_store_memory": 0},
		},
		{
			file: "ray-2.60.0_v1_1node_token.txt", layout: LayoutPendingDemands, time: "2026-11-25 20:17:33.272332",
			nodes: 1, active: 1, ids: []string{head260},
			totals: map[string]float64{"CPU": 2, "memory": 15.66 * gib, "object_store_memory": 6.71 * gib},
			used:   map[string]float64{"CPU": 0, "memory": 0, "object_store_memory": 0},
		},
		{
			file: "ray-2.60.0_v1_2node_demands.txt", layout: LayoutPendingDemands,
			nodes: 2, active: 2, ids: []string{head260, worker260},
			totals:  map[string]float64{"CPU": 3, "custom_res": 3, "memory": 29.85 * gib, "object_store_memory": 12.79 * gib},
			used:    map[string]float64{"CPU": 3, "custom_res": 0, "memory": 0, "object_store_memory": 0},
			demands: 4,
		},
		{
			file: "ray-2.60.0_v1_2node_request_resources.txt", layout: LayoutPendingDemands,
			nodes: 2, active: 2, ids: []string{head260, worker260},
			totals:  map[string]float64{"CPU": 3, "custom_res": 3, "memory": 29.85 * gib, "object_store_memory": 12.79 * gib},
			used:    map[string]float64{"CPU": 3, "custom_res": 0, "memory": 0, "object_store_memory": 0},
			demands: 4, constraints: 2,
		},
		{
			// -v: the per-node breakdown must not be added to the totals.
			file: "ray-2.60.0_v1_2node_verbose.txt", layout: LayoutPendingDemands,
			nodes: 2, active: 2, ids: []string{head260, worker260},
			totals:  map[string]float64{"CPU": 3, "custom_res": 3, "memory": 29.85 * gib, "object_store_memory": 12.79 * gib},
			used:    map[string]float64{"CPU": 3, "custom_res": 0, "memory": 0, "object_store_memory": 0},
			demands: 4, constraints: 2,
		},
		{
			file: "ray-2.49.2_v1_1node.txt", layout: LayoutTotal,
			nodes: 1, active: 1, ids: []string{"4b15d8608ea2cdd2dd37fc6a083bba112666b9400c4e0314612ba95e"},
			totals: map[string]float64{"CPU": 2, "memory": 14.50 * gib, "object_store_memory": 6.22 * gib},
			used:   map[string]float64{"CPU": 0, "memory": 0, "object_store_memory": 0},
		},
		{
			file: "ray-2.49.2_v1_1node_demands.txt", layout: LayoutTotal,
			nodes: 1, active: 1, ids: []string{"4b15d8608ea2cdd2dd37fc6a083bba112666b9400c4e0314612ba95e"},
			totals:  map[string]float64{"CPU": 2, "memory": 14.50 * gib, "object_store_memory": 6.22 * gib},
			used:    map[string]float64{"CPU": 2, "memory": 0, "object_store_memory": 0},
			demands: 4, constraints: 1,
		},
		{
			file: "ray-2.9.3_v1_1node.txt", layout: LayoutUsage, time: "2026-11-25 20:14:02.063553",
			nodes: 1, active: 1, ids: []string{"2f7af015a066862a52ed43836360776882879b0a614739e655aa7664"},
			totals: map[string]float64{"CPU": 2, "memory": 12.93 * gib, "object_store_memory": 6.47 * gib},
			used:   map[string]float64{"CPU": 0, "memory": 0, "object_store_memory": 0},
		},
		{
			file: "ray-2.9.3_v1_1node_demands.txt", layout: LayoutUsage,
			nodes: 1, active: 1, ids: []string{"2f7af015a066862a52ed43836360776882879b0a614739e655aa7664"},
			totals:  map[string]float64{"CPU": 2, "memory": 12.93 * gib, "object_store_memory": 6.47 * gib},
			used:    map[string]float64{"CPU": 2, "memory": 0, "object_store_memory": 0},
			demands: 4,
		},
		{
			file: "ray-2.9.3_v1_2node_demands.txt", layout: LayoutUsage,
			nodes: 2, active: 2,
			ids:     []string{"2f7af015a066862a52ed43836360776882879b0a614739e655aa7664", "eacb09e2d60863d54fafa3eb7788eaca58084352b6932c734627bfab"},
			totals:  map[string]float64{"CPU": 3, "custom_res": 3, "memory": 27.79 * gib, "object_store_memory": 12.83 * gib},
			used:    map[string]float64{"CPU": 3, "custom_res": 0, "memory": 0, "object_store_memory": 0},
			demands: 4,
		},
		{
			// v2 autoscaler, nothing running: the head is Idle, not Active; it is still alive.
			file: "ray-2.9.3_v2_idle.txt", layout: LayoutUsage, idleSection: true,
			nodes: 1, idle: 1, ids: []string{"d4a1f7ef5f4f30fc8592a32c3300c45e64f124c50d50f356e99246f0"},
			totals: map[string]float64{"CPU": 2, "memory": 12.92 * gib, "object_store_memory": 6.46 * gib},
			used:   map[string]float64{"CPU": 0, "memory": 0, "object_store_memory": 0},
		},
		{
			file: "ray-2.9.3_v2_demands.txt", layout: LayoutUsage, idleSection: true,
			nodes: 1, active: 1, ids: []string{"d4a1f7ef5f4f30fc8592a32c3300c45e64f124c50d50f356e99246f0"},
			totals:  map[string]float64{"CPU": 2, "memory": 12.92 * gib, "object_store_memory": 6.46 * gib},
			used:    map[string]float64{"CPU": 2, "memory": 0, "object_store_memory": 0},
			demands: 4,
		},
		{
			file: "ray-2.9.3_v2_verbose.txt", layout: LayoutTotal, idleSection: true,
			nodes: 1, active: 1, ids: []string{"d4a1f7ef5f4f30fc8592a32c3300c45e64f124c50d50f356e99246f0"},
			totals:  map[string]float64{"CPU": 2, "memory": 12.92 * gib, "object_store_memory": 6.46 * gib},
			used:    map[string]float64{"CPU": 2, "memory": 0, "object_store_memory": 0},
			demands: 4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			st, err := Parse(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if st.Layout != tc.layout || st.IdleSection != tc.idleSection {
				t.Errorf("layout %q idle section %v, want %q %v (sections %v)", st.Layout, st.IdleSection, tc.layout, tc.idleSection, st.Sections)
			}
			if tc.time != "" && st.Time != tc.time {
				t.Errorf("time %q, want %q", st.Time, tc.time)
			}
			if st.Time == "" {
				t.Error("no autoscaler time")
			}
			if got := st.NodeCount(); got != tc.nodes {
				t.Errorf("NodeCount %d, want %d", got, tc.nodes)
			}
			if len(st.Active) != tc.active || len(st.Idle) != tc.idle {
				t.Errorf("active %v idle %v, want %d and %d lines", st.Active, st.Idle, tc.active, tc.idle)
			}
			if tc.ids != nil && !reflect.DeepEqual(st.NodeIDs(), tc.ids) {
				t.Errorf("node ids %v, want %v", st.NodeIDs(), tc.ids)
			}
			for _, id := range st.NodeIDs() {
				if len(id) != 56 {
					t.Errorf("node id %q: want 56 hex digits", id)
				}
			}
			compareMaps(t, "totals", st.Totals(), tc.totals)
			compareMaps(t, "used", st.Used(), tc.used)
			if len(st.Demands) != tc.demands || len(st.Constraints) != tc.constraints {
				t.Errorf("demands %q constraints %q, want %d and %d", st.Demands, st.Constraints, tc.demands, tc.constraints)
			}
			if st.PendingNodes != 0 || len(st.Pending) != 0 || len(st.Failures) != 0 || len(st.Extra) != 0 || st.NoStatus {
				t.Errorf("unexpected pending %v failures %v extra %v nostatus %v", st.Pending, st.Failures, st.Extra, st.NoStatus)
			}
		})
	}
}

func compareMaps(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s %v, want %v", what, got, want)
		return
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !near(g, w) {
			t.Errorf("%s[%s] = %v, want %v", what, k, g, w)
		}
	}
}

func TestParseDemandLines(t *testing.T) {
	st, err := Parse(readTestdata(t, "ray-2.60.0_v1_2node_request_resources.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantDemands := []string{
		"{'CPU': 1.0}: 1+ pending tasks/actors",
		"{'CPU': 1.0, 'GPU': 1.0}: 1+ pending tasks/actors",
		"{'CPU': 8.0}: 1+ pending tasks/actors",
		"{'CPU': 16.0} * 1 (STRICT_PACK): 1+ pending placement groups",
	}
	if !reflect.DeepEqual(st.Demands, wantDemands) {
		t.Errorf("demands %q", st.Demands)
	}
	wantConstraints := []string{"{'CPU': 1}: 4 from request_resources()", "{'GPU': 1}: 1 from request_resources()"}
	if !reflect.DeepEqual(st.Constraints, wantConstraints) {
		t.Errorf("constraints %q", st.Constraints)
	}
	wantSections := []string{"Active", "Pending", "Recent failures", "Total Usage", "From request_resources", "Pending Demands"}
	if !reflect.DeepEqual(st.Sections, wantSections) {
		t.Errorf("sections %q", st.Sections)
	}
}

// TestParseSynthetic covers layouts and lines no capture here has: Ray 1.x
// "Healthy:" with a shared unit, typed node lines, pending launches, failures,
// placement-group suffixes, TiB/MiB/KiB, an appended autoscaler error, ANSI
// colour and CRLF.
func TestParseSynthetic(t *testing.T) {
	text := strings.Join([]string{
		"\x1b[1m======== Autoscaler status: 2021-06-01 10:00:00.000000 ========\x1b[0m",
		"Node status",
		"---------------------------------------------------------------",
		"Healthy:",
		" 1 ray.head.default",
		" 2 ray.worker.gpu",
		"Pending:",
		" ray.worker.cpu, 3 launching",
		" 10.0.0.5: ray.worker.cpu, setting-up",
		"Recent failures:",
		" ray.worker.gpu: NodeTerminated (ip: 10.0.0.9)",
		"",
		"Resources",
		"---------------------------------------------------------------",
		"Usage:",
		" 1.0/24.0 CPU (1.0 used of 2.0 reserved in placement groups)",
		" 0.0/2.0 GPU",
		" 0.00/14.669 GiB memory",
		" 512.00MiB/3.39TiB object_store_memory",
		" 1.50KiB/2.00KiB tiny",
		" garbage/line here",
		" 3 bogus",
		"",
		"Demands:",
		" {'CPU': 1.0}: 10+ pending tasks/actors",
		"The autoscaler failed with the following error:",
		"Traceback (most recent call last):",
	}, "\r\n")
	st, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if st.Layout != LayoutHealthy || st.Time != "2021-06-01 10:00:00.000000" {
		t.Errorf("layout %q time %q", st.Layout, st.Time)
	}
	if st.NodeCount() != 3 || len(st.NodeIDs()) != 0 {
		t.Errorf("nodes %v", st.Active)
	}
	if st.Active[1] != (NodeGroup{Count: 2, Type: "ray.worker.gpu"}) {
		t.Errorf("typed node line: %+v", st.Active[1])
	}
	if st.PendingNodes != 4 || len(st.Failures) != 1 {
		t.Errorf("pending %d %q failures %q", st.PendingNodes, st.Pending, st.Failures)
	}
	compareMaps(t, "totals", st.Totals(), map[string]float64{
		"CPU": 24, "GPU": 2, "memory": 14.669 * gib, "object_store_memory": 3.39 * (1 << 40), "tiny": 2048,
	})
	compareMaps(t, "used", st.Used(), map[string]float64{
		"CPU": 1, "GPU": 0, "memory": 0, "object_store_memory": 512 * (1 << 20), "tiny": 1536,
	})
	if len(st.Demands) != 1 || len(st.Extra) != 2 {
		t.Errorf("demands %q extra %q", st.Demands, st.Extra)
	}
}

func TestParseNoStatusAndGarbage(t *testing.T) {
	st, err := Parse("No cluster status. It may take a few seconds for the Ray internal services to start up.\n")
	if err != nil || !st.NoStatus {
		t.Fatalf("no-status text: %+v %v", st, err)
	}
	for _, s := range []string{"", "hello\nworld\n", " 1 node_abc\n", readTestdata(t, "ray-2.60.0_no_cluster.stderr")} {
		if _, err := Parse(s); err != ErrNotStatus {
			t.Errorf("Parse(%.40q) = %v, want ErrNotStatus", s, err)
		}
	}
}

func TestParseResourceLines(t *testing.T) {
	tests := []struct {
		in          string
		ok          bool
		name        string
		used, total float64
	}{
		{"0.0/8.0 CPU", true, "CPU", 0, 8},
		{"0B/3.39TiB memory", true, "memory", 0, 3.39 * (1 << 40)},
		{"1.00GiB/2.00GiB memory (0B used of 0B reserved in placement groups)", true, "memory", gib, 2 * gib},
		{"0.00/14.669 GiB memory", true, "memory", 0, 14.669 * gib},
		{"0.0/1.0 accelerator_type:A100", true, "accelerator_type:A100", 0, 1},
		{"1/2", false, "", 0, 0},
		{"-1.0/2.0 CPU", false, "", 0, 0},
		{"NaN/2.0 CPU", false, "", 0, 0},
		{"1.0/Inf CPU", false, "", 0, 0},
		{"1.0 2.0 CPU", false, "", 0, 0},
	}
	for _, tc := range tests {
		r, ok := parseResource(tc.in)
		if ok != tc.ok || ok && (r.Name != tc.name || !near(r.Used, tc.used) || !near(r.Total, tc.total)) {
			t.Errorf("parseResource(%q) = %+v %v", tc.in, r, ok)
		}
	}
}
