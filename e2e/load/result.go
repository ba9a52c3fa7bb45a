//go:build linux

package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fasthttp/websocket"
)

// result is everything a run measured.
type result struct {
	dialTime, loadTime, settleTime            time.Duration
	before, connected, afterLoad, afterSettle procFigures
	gen                                       *generator
	o                                         options
	slow                                      slowResult

	readers      int
	dropped      []string // reading clients whose connection ended before we closed it
	minEv, maxEv int64    // events seen per live reading client
	evLat        []int32  // µs, every event of every reading client
}

func (r *result) collectWS(clients []*wsClient) {
	r.readers = len(clients)
	r.minEv = -1
	for _, c := range clients {
		if !c.alive() {
			code := closeCode(c.err)
			r.dropped = append(r.dropped, fmt.Sprintf("client %d: close code %d (%v)", c.id, code, c.err))
			continue
		}
		n := c.counts.Load()
		r.maxEv = max(r.maxEv, n)
		if r.minEv < 0 || n < r.minEv {
			r.minEv = n
		}
	}
}

// collectLatencies takes every reader's latencies; call it once the
// readers have returned.
func (r *result) collectLatencies(clients []*wsClient) {
	for _, c := range clients {
		<-c.done
		r.evLat = append(r.evLat, c.lat...)
	}
}

// settled: goroutines and fds back within the tolerance of before.
func (r *result) settled(o options) bool {
	return r.afterSettle.goroutines <= r.before.goroutines+o.leakTol && r.afterSettle.fds <= r.before.fds+o.leakTol
}

type check struct {
	name string
	ok   bool
	note string
}

func (r *result) checks() []check {
	nerr := 0
	for _, n := range r.gen.errs {
		nerr += n
	}
	cs := []check{
		{"every request answered as expected", nerr == 0, fmt.Sprintf("%d errors", nerr)},
		{"every request started on time (in-flight cap never hit)", r.gen.late == 0, fmt.Sprintf("%d not started", r.gen.late)},
		{"no reading /ws client dropped", len(r.dropped) == 0, fmt.Sprintf("%d of %d dropped", len(r.dropped), r.readers)},
		{"every reading client saw every event", r.minEv == r.maxEv && r.maxEv > 0, fmt.Sprintf("min %d, max %d events per client", r.minEv, r.maxEv)},
	}
	if !r.slow.skipped {
		s := r.slow
		ok := s.err == nil && s.code == websocket.ClosePolicyViolation && s.got+int64(r.o.clientBuffer) <= s.stalled
		cs = append(cs, check{"a client that stops reading is closed with 1008 within events.client_buffer events", ok,
			fmt.Sprintf("stalled over %d events, then read %d and close code %d (%s)", s.stalled, s.got, s.code, firstLine(s.recvErr))})
	}
	cs = append(cs,
		check{"goroutines back after the settle", r.afterSettle.goroutines <= r.before.goroutines+r.o.leakTol,
			fmt.Sprintf("%d before, %d after the settle (tolerance +%d)", r.before.goroutines, r.afterSettle.goroutines, r.o.leakTol)},
		check{"open fds back after the settle", r.afterSettle.fds <= r.before.fds+r.o.leakTol,
			fmt.Sprintf("%d before, %d after the settle (tolerance +%d)", r.before.fds, r.afterSettle.fds, r.o.leakTol)},
	)
	return cs
}

func (r *result) ok() bool {
	for _, c := range r.checks() {
		if !c.ok {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func fmtD(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (r *result) print(w io.Writer, o options) {
	g := r.gen
	fmt.Fprintf(w, "\nCastRay load test: %d /ws clients (+%d slow), %d req/s for %s, events.client_buffer %d, token %v\n",
		r.readers, btoi(!r.slow.skipped), o.rate, o.duration, o.clientBuffer, o.token)
	fmt.Fprintf(w, "clients connected in %s; load ran %s: %d requests sent (%.0f/s), %d not started\n\n",
		fmtD(r.dialTime), fmtD(r.loadTime), g.sent, float64(g.sent)/r.loadTime.Seconds(), g.late)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tCOUNT\tP50\tP99\tMAX")
	var all []time.Duration
	names := make([]string, 0, len(g.lat))
	for n := range g.lat {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		l := slices.Clone(g.lat[n])
		slices.Sort(l)
		all = append(all, l...)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", n, len(l), fmtD(pct(l, .50)), fmtD(pct(l, .99)), fmtD(l[len(l)-1]))
	}
	slices.Sort(all)
	if len(all) > 0 {
		fmt.Fprintf(tw, "all\t%d\t%s\t%s\t%s\n", len(all), fmtD(pct(all, .50)), fmtD(pct(all, .99)), fmtD(all[len(all)-1]))
	}
	_ = tw.Flush()

	fmt.Fprintln(w, "\nerrors by kind:")
	if len(g.errs) == 0 {
		fmt.Fprintln(w, "  none")
	}
	kinds := make([]string, 0, len(g.errs))
	for k := range g.errs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %6d  %s\n", g.errs[k], k)
	}

	ev := make([]time.Duration, len(r.evLat))
	for i, us := range r.evLat {
		ev[i] = time.Duration(us) * time.Microsecond
	}
	slices.Sort(ev)
	fmt.Fprintf(w, "\n/ws: %d reading clients, %d dropped; %d-%d events each during the load; %d deliveries, latency (arrival - daemon ts) p50 %s, p99 %s, max %s\n",
		r.readers, len(r.dropped), r.minEv, r.maxEv, len(ev), fmtD(pct(ev, .5)), fmtD(pct(ev, .99)), fmtD(pct(ev, 1)))
	for _, d := range r.dropped[:min(5, len(r.dropped))] {
		fmt.Fprintln(w, "  dropped:", d)
	}
	if !r.slow.skipped {
		s := r.slow
		fmt.Fprintf(w, "slow client: stopped reading for %s while %d events were published (%d broadcast bursts); read again: %d events, then close code %d\n",
			fmtD(s.stall), s.stalled, s.bursts, s.got, s.code)
	}

	fmt.Fprintln(w, "\ndaemon (from /metrics; fds also from /proc/<pid>/fd):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tGOROUTINES\tOPEN FDS\tRSS\tWS CLIENTS\tWS DROPPED")
	for _, x := range []struct {
		when string
		f    procFigures
	}{{"before (idle, base nodes made)", r.before}, {"clients connected", r.connected}, {"after the load", r.afterLoad}, {fmt.Sprintf("after the settle (%s)", fmtD(r.settleTime)), r.afterSettle}} {
		fmt.Fprintf(tw, "%s\t%d\t%d (%d)\t%s\t%d\t%d\n", x.when, x.f.goroutines, x.f.fds, x.f.procFDs, mib(x.f.rss), x.f.wsClients, x.f.wsDropped)
	}
	_ = tw.Flush()

	fmt.Fprintln(w, "\nchecks:")
	for _, c := range r.checks() {
		v := "PASS"
		if !c.ok {
			v = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %s: %s\n", v, c.name, c.note)
	}
}
