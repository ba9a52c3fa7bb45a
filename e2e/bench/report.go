//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the summary: a CastRay figure next to one baseline
// measured in the same run. ratio is figure/baseline (for times and sizes:
// above 1 means CastRay takes longer or uses more).
type row struct {
	item     string
	what     string
	figure   string
	baseName string
	baseline string
	ratio    string
	goal     string
	verdict  string
}

type report struct {
	rows     []row
	failures []string
	// realRPC is Capabilities over a real plugin process, ns/op, to set
	// against sdk's in-process gRPC benchmark.
	realRPC float64
}

func (r *report) add(x row) {
	if x.goal == "" {
		x.goal, x.verdict = "-", "info"
	}
	for _, p := range []*string{&x.baseName, &x.baseline, &x.ratio} {
		if *p == "" {
			*p = "-"
		}
	}
	r.rows = append(r.rows, x)
}

func (r *report) fail(item string, err error) {
	msg := fmt.Sprintf("%s: %v", item, err)
	logf("MEASUREMENT FAILED: %s", msg)
	r.failures = append(r.failures, msg)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CastRay benchmark summary (ratio = CastRay / baseline, both measured in this run; goals are information, never asserted)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := slices.Clone(r.rows)
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.item, b.item) })
	fmt.Fprintln(tw, "#\tMEASUREMENT\tFIGURE\tBASELINE\tBASELINE FIGURE\tRATIO\tGOAL\tRESULT")
	for _, x := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.item, x.what, x.figure, x.baseName, x.baseline, x.ratio, x.goal, x.verdict)
	}
	_ = tw.Flush()
	if len(r.failures) > 0 {
		fmt.Fprintln(w, "\nMeasurements that FAILED (no figure):")
		for _, f := range r.failures {
			fmt.Fprintln(w, "  -", f)
		}
	}
}

func ratio(figure, baseline float64) string {
	if baseline <= 0 || math.IsNaN(figure) || math.IsNaN(baseline) {
		return "-"
	}
	r := figure / baseline
	switch {
	case r >= 100:
		return fmt.Sprintf("x%.0f", r)
	case r >= 10:
		return fmt.Sprintf("x%.1f", r)
	default:
		return fmt.Sprintf("x%.2f", r)
	}
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f us", float64(d)/float64(time.Microsecond))
	}
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms/op", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.1f us/op", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns/op", ns)
	}
}

func fmtMiB(bytes int64) string {
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}

// fmtRate is a duration with the throughput of size bytes.
func fmtRate(d time.Duration, size int64) string {
	if d <= 0 {
		return fmtDur(d)
	}
	return fmt.Sprintf("%s (%.0f MiB/s)", fmtDur(d), float64(size)/(1<<20)/d.Seconds())
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}
