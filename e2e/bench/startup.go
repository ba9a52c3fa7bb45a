//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// benchStartup is item 1: spawn `castray serve` -> /healthz 200 and every
// plugin healthy, median of o.runs, against spawning `castray version`. It
// returns the peak RSS of `castray version`, the floor a Go binary of this
// size costs, used as the baseline of the idle RSS figures.
func benchStartup(ctx context.Context, rep *report, o options, root string) (int64, error) {
	want, err := expectedPlugins(filepath.Join(o.binDir, "plugins"))
	if err != nil {
		return 0, err
	}

	var versions []time.Duration
	var versionRSS int64
	for i := 0; i < o.runs; i++ {
		cmd := exec.CommandContext(ctx, filepath.Join(o.binDir, "castray"), "version")
		cmd.Env = cleanEnv()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("castray version: %v\n%s", err, out)
		}
		versions = append(versions, took)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			versionRSS = max(versionRSS, ru.Maxrss<<10) // Linux reports KiB
		}
	}
	base := median(versions)

	var ready, healthz, stops []time.Duration
	for i := 0; i < o.runs; i++ {
		dataDir := filepath.Join(root, fmt.Sprintf("startup-%d", i))
		r, h, s, err := startOnce(ctx, o, dataDir, want)
		_ = os.RemoveAll(dataDir)
		if err != nil {
			return versionRSS, fmt.Errorf("run %d: %w", i+1, err)
		}
		logf("startup run %d/%d: healthz %s, all %d plugin(s) healthy %s, SIGTERM->exit %s", i+1, o.runs, fmtDur(h), want, fmtDur(r), fmtDur(s))
		ready, healthz, stops = append(ready, r), append(healthz, h), append(stops, s)
	}
	m := median(ready)
	rep.add(row{
		item: "1", what: fmt.Sprintf("serve -> /healthz + %d plugin(s) healthy (median of %d)", want, o.runs),
		figure:   fmt.Sprintf("%s [min %s, max %s]", fmtDur(m), fmtDur(slices.Min(ready)), fmtDur(slices.Max(ready))),
		baseName: "spawn+exit `castray version`", baseline: fmtDur(base), ratio: ratio(float64(m), float64(base)),
		goal: "< 500 ms", verdict: verdict(m < 500*time.Millisecond),
	})
	rep.add(row{item: "1", what: "  of which: serve -> first /healthz 200 (median)", figure: fmtDur(median(healthz)),
		baseName: "spawn+exit `castray version`", baseline: fmtDur(base), ratio: ratio(float64(median(healthz)), float64(base))})
	rep.add(row{item: "1", what: "SIGTERM -> daemon exited, plugins stopped (median)", figure: fmtDur(median(stops))})
	return versionRSS, nil
}

// startOnce starts one daemon on a fresh data dir and stops it again.
func startOnce(ctx context.Context, o options, dataDir string, want int) (ready, healthz, stop time.Duration, err error) {
	start := time.Now()
	d, err := startDaemon(o, dataDir)
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() {
		s, serr := d.stop()
		stop = s
		if err == nil {
			err = serr
		}
	}()
	h, err := d.waitReady(ctx, want, 30*time.Second)
	if err != nil {
		return 0, 0, 0, err
	}
	return time.Since(start), h.Sub(start), 0, nil
}
