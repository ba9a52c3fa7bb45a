//go:build linux

package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// row is one line of the table: a figure and whether its check held.
type row struct {
	phase, what, figure, check string
}

type report struct {
	mu       sync.Mutex
	rows     []row
	failures []string
}

func (r *report) add(phase, what, figure string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	check := "ok"
	if !ok {
		check = "FAIL"
		r.failures = append(r.failures, phase+": "+what+": "+figure)
	}
	r.rows = append(r.rows, row{phase, what, figure, check})
}

// info adds a figure that is measured, not checked.
func (r *report) info(phase, what, figure string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row{phase, what, figure, ""})
}

func (r *report) fail(phase string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(msg) > 400 {
		msg = msg[:400] + "…"
	}
	r.failures = append(r.failures, phase+": "+msg)
	r.rows = append(r.rows, row{phase, "phase error", msg, "FAIL"})
}

func (r *report) print(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(w, "| phase | what | figure | check |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, x := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", x.phase, x.what, strings.ReplaceAll(x.figure, "|", "\\|"), x.check)
	}
	if len(r.failures) > 0 {
		fmt.Fprintf(w, "\n%d check(s) failed:\n", len(r.failures))
		for _, f := range r.failures {
			fmt.Fprintln(w, "- "+f)
		}
	}
}

// spread is "min / median / p95 / max" of ds.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) time.Duration { return s[int(p*float64(len(s)-1)+0.5)] }
	f := func(d time.Duration) string {
		switch {
		case d < time.Millisecond:
			return fmt.Sprintf("%.2f ms", float64(d)/1e6)
		case d < 10*time.Second:
			return fmt.Sprintf("%d ms", d.Milliseconds())
		default:
			return fmt.Sprintf("%.1f s", d.Seconds())
		}
	}
	return fmt.Sprintf("%s / %s / %s / %s (n=%d)", f(s[0]), f(q(0.5)), f(q(0.95)), f(s[len(s)-1]), len(s))
}
