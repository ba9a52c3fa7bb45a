//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
)

// goResult is one Go benchmark (the median over -count runs).
type goResult struct {
	ns  float64 // ns/op
	mbs float64 // MB/s (10^6 bytes), 0 when the benchmark sets no bytes
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+([0-9.]+) ns/op(?:\s+([0-9.]+) MB/s)?`)
var procSuffix = regexp.MustCompile(`-\d+$`)

// parseGoBench reads `go test -bench` output; names lose their -GOMAXPROCS
// suffix.
func parseGoBench(path string) (map[string]goResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	runs := map[string][]goResult{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var r goResult
		r.ns, _ = strconv.ParseFloat(m[2], 64)
		if m[3] != "" {
			r.mbs, _ = strconv.ParseFloat(m[3], 64)
		}
		name := procSuffix.ReplaceAllString(m[1], "")
		runs[name] = append(runs[name], r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string]goResult{}
	for name, rs := range runs {
		slices.SortFunc(rs, func(a, b goResult) int {
			switch {
			case a.ns < b.ns:
				return -1
			case a.ns > b.ns:
				return 1
			}
			return 0
		})
		out[name] = rs[len(rs)/2]
	}
	return out, nil
}

// addGoBench puts the Go benchmarks of items 3 and 5 into the table.
func addGoBench(rep *report, path string) error {
	res, err := parseGoBench(path)
	if err != nil {
		return err
	}
	var missing []string
	get := func(name string) (goResult, bool) {
		r, ok := res[name]
		if !ok {
			missing = append(missing, name)
		}
		return r, ok
	}

	const capsDirect, capsGRPC = "BenchmarkCapabilities/direct", "BenchmarkCapabilities/grpc-inprocess"
	if d, ok := get(capsDirect); ok {
		if g, ok := get(capsGRPC); ok {
			rep.add(row{item: "3", what: "Capabilities() via in-process gRPC (plugintest)", figure: fmtNs(g.ns),
				baseName: "direct call (go test)", baseline: fmtNs(d.ns), ratio: ratio(g.ns, d.ns)})
			if rep.realRPC > 0 {
				rep.add(row{item: "3", what: "Capabilities() via real plugin process (gRPC+mTLS)", figure: fmtNs(rep.realRPC),
					baseName: "in-process gRPC (go test)", baseline: fmtNs(g.ns), ratio: ratio(rep.realRPC, g.ns)})
			}
		}
	}
	if d, ok := get("BenchmarkSendStream/direct"); ok {
		if g, ok := get("BenchmarkSendStream/grpc-inprocess"); ok {
			rep.add(row{item: "3", what: "Send() stream, 1 target, 2 events, in-process gRPC", figure: fmtNs(g.ns),
				baseName: "direct call (go test)", baseline: fmtNs(d.ns), ratio: ratio(g.ns, d.ns)})
		}
	}

	for _, n := range []int{1, 3} {
		c, ok := get(fmt.Sprintf("BenchmarkSend/castray/targets=%d", n))
		if !ok {
			continue
		}
		what := fmt.Sprintf("delivery Send 64 MiB -> %d inbox(es), plugintest", n)
		for _, b := range []struct{ key, name string }{
			{"baseline-copy", "io.Copy (copy_file_range)"},
			{"baseline-copy+fsync", "io.Copy + fsync"},
			{"baseline-hashcopy+fsync", "read+sha256+write+fsync, no gRPC"},
		} {
			if r, ok := get(fmt.Sprintf("BenchmarkSend/%s/targets=%d", b.key, n)); ok {
				rep.add(row{item: "5", what: what, figure: fmtGo(c), baseName: fmt.Sprintf("%s x%d", b.name, n),
					baseline: fmtGo(r), ratio: ratio(c.ns, r.ns)})
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not in the go test output: %v", missing)
	}
	return nil
}

func fmtGo(r goResult) string {
	if r.mbs > 0 {
		return fmt.Sprintf("%s (%.0f MB/s)", fmtNs(r.ns), r.mbs)
	}
	return fmtNs(r.ns)
}
