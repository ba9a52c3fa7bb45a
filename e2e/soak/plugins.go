//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// localConfig is the daemon's config for phases 1 and 2: the three demo
// nodes, 1 MiB chunks and a local backend slowed to rate bytes/s so that a
// transfer lasts long enough to be hit.
func localConfig(rate int64, resume bool) string {
	return fmt.Sprintf(`ray_cluster {
  create_demo_nodes = true
}
external_cluster {
  auto_discover = false
}
file_transfer {
  chunk_size      = 1048576
  resume_on_start = %v
}
plugin "local" {
  config {
    max_rate = %d
  }
}
`, resume, rate)
}

var demoNodes = []string{"node_1", "node_2", "node_3"}

// randomFile is n random bytes and their SHA-256.
func randomFile(n int64) ([]byte, string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return nil, "", err
	}
	s := sha256.Sum256(b)
	return b, hex.EncodeToString(s[:]), nil
}

func fileSHA(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pluginPhase is phase 1: kill -9 of a random plugin while a discovery round
// and a broadcast run, o.pluginKills times.
func pluginPhase(ctx context.Context, rep *report, o options, rng *mrand.Rand, dir string) error {
	const ph = "1 plugins"
	pdir, dataDir := filepath.Join(dir, "plugins"), filepath.Join(dir, "data")
	for _, p := range []string{pdir, dataDir} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(filepath.Join(o.binDir, "plugins"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "castray-") {
			if err := linkOrCopy(filepath.Join(o.binDir, "plugins", e.Name()), filepath.Join(pdir, e.Name())); err != nil {
				return err
			}
		}
	}
	cfg := filepath.Join(dir, "castray.hcl")
	// About a second per transfer: three targets at rate bytes/s each.
	rate := o.size
	if err := os.WriteFile(cfg, []byte(localConfig(rate, false)), 0o600); err != nil {
		return err
	}
	d, err := startDaemon(o.binDir, pdir, dataDir, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := d.stop(); err != nil {
			rep.add(ph, "clean stop", err.Error(), false)
		}
	}()
	if err := d.waitReady(ctx, []string{"local"}, 60*time.Second); err != nil {
		return err
	}
	// Every plugin that loaded, as the daemon lists it.
	ps, err := d.plugins(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, p := range ps {
		if p.State == "healthy" {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	if err := d.waitReady(ctx, names, 60*time.Second); err != nil {
		return err
	}
	logf("plugins: %v", names)
	payload, sum, err := randomFile(o.size)
	if err != nil {
		return err
	}
	if err := d.upload(ctx, "p1.bin", payload); err != nil {
		return err
	}
	payload = nil

	h := pollHealth(func() *daemon { return d }, 50*time.Millisecond)
	var (
		restarts                                 []time.Duration
		byVictim                                 = map[string]int{}
		notChild, notRelaunched                  int
		discOK, discPluginFailed, discBad        int
		discKilledMid, discVictimFailed          int
		xferCompleted, xferFailedReason, xferBad int
		xferMid, retriesOK, retriesBad, shaBad   int
		discNoReason                             int
		problems                                 []string
	)
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		logf("plugins: PROBLEM %s", msg)
		if len(problems) < 10 {
			problems = append(problems, msg)
		}
	}
	for i := 0; i < o.pluginKills && ctx.Err() == nil; i++ {
		ps, err := d.plugins(ctx)
		if err != nil {
			return err
		}
		kids := map[int]bool{}
		for _, k := range children(d.pid()) {
			kids[k] = true
		}
		var cands []pluginStatus
		for _, p := range ps {
			if p.State != "healthy" {
				continue
			}
			if !kids[p.PID] {
				notChild++
				problem("iteration %d: plugin %s pid %d is not a child of the daemon", i, p.Name, p.PID)
				continue
			}
			cands = append(cands, p)
		}
		if len(cands) == 0 {
			return fmt.Errorf("iteration %d: no healthy plugin process to kill: %+v", i, ps)
		}
		victim := cands[rng.Intn(len(cands))]
		byVictim[victim.Name]++

		// The two operations, at once: discovery rounds back to back (a
		// round takes tens of milliseconds) and a broadcast.
		stopRounds := make(chan struct{})
		roundsCh := make(chan []round, 1)
		go func() { roundsCh <- runRounds(ctx, d, stopRounds) }()
		id, err := d.startTransfer(ctx, map[string]any{"file_name": "p1.bin", "mode": "broadcast"})
		if err != nil {
			return fmt.Errorf("iteration %d: start transfer: %w", i, err)
		}
		time.Sleep(time.Duration(100+rng.Intn(700)) * time.Millisecond)
		if rec, err := d.transfer(ctx, id); err == nil && !ended(rec.State) {
			xferMid++
		}
		killAt := time.Now()
		if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
			return fmt.Errorf("iteration %d: kill %s (%d): %w", i, victim.Name, victim.PID, err)
		}
		// Relaunch: listed healthy with a new pid.
		relaunched := false
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; {
			ps, err := d.plugins(ctx)
			if err == nil {
				for _, p := range ps {
					if p.Name == victim.Name && p.State == "healthy" && p.PID > 0 && p.PID != victim.PID {
						relaunched = true
						restarts = append(restarts, time.Since(killAt))
					}
				}
			}
			if relaunched {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !relaunched {
			notRelaunched++
			problem("iteration %d: %s not healthy again 2 min after the kill", i, victim.Name)
		}
		// The discovery rounds: each answered, and the killed plugin either
		// finished before the kill or failed with a reason.
		close(stopRounds)
		rounds := <-roundsCh
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logged := false
		for _, r := range rounds {
			if r.err != nil || r.code != 200 {
				discBad++
				problem("iteration %d: discovery round: %d %v", i, r.code, r.err)
				continue
			}
			discOK++
			for name, msg := range r.errs {
				if msg != "" {
					discPluginFailed++
					if name == victim.Name && !logged {
						logged = true
						logf("plugins: iteration %d: %s failed in a round: %s", i, name, msg)
					}
				}
			}
			if victim.Kind != "discovery" || r.start.After(killAt) || r.end.Before(killAt) {
				continue
			}
			discKilledMid++ // in flight at the kill
			msg, ran := r.errs[victim.Name]
			switch {
			case !ran:
				discNoReason++
				problem("iteration %d: %s was killed mid-round and is missing from the round's report", i, victim.Name)
			case msg != "":
				discVictimFailed++
			}
		}
		// The transfer: completed (every copy checked) or failed with a
		// reason, and then a retry completes.
		rec, err := d.waitTransfer(ctx, id, 3*time.Minute)
		if err != nil {
			xferBad++
			problem("iteration %d: %v", i, err)
			continue
		}
		checkCopies := func(rec transferRec) {
			for _, t := range rec.Targets {
				if t.State != "completed" {
					continue
				}
				got, err := fileSHA(filepath.Join(dataDir, "inbox", t.NodeID, "p1.bin"))
				if err != nil || got != sum || t.SHA256 != sum {
					shaBad++
					problem("iteration %d: %s: copy %v, sha ok %v, reported %s", i, t.NodeID, err, got == sum, t.SHA256)
				}
			}
		}
		checkCopies(rec)
		if rec.State == "completed" {
			xferCompleted++
			continue
		}
		reasons := true
		for _, t := range rec.Targets {
			if t.State != "completed" && t.Error == "" {
				reasons = false
			}
		}
		if !reasons {
			xferBad++
			problem("iteration %d: transfer %s %s with a target without a reason: %+v", i, id, rec.State, rec)
		} else {
			xferFailedReason++
			logf("plugins: iteration %d: transfer %s after killing %s: %s", i, rec.State, victim.Name, firstError(rec))
		}
		if err := d.waitReady(ctx, []string{"local"}, time.Minute); err != nil {
			return err
		}
		if _, err := d.postJSON(ctx, "/api/transfers/"+id+"/retry", nil, nil); err != nil {
			retriesBad++
			problem("iteration %d: retry: %v", i, err)
			continue
		}
		rec, err = d.waitTransfer(ctx, id, 3*time.Minute)
		if err != nil || rec.State != "completed" {
			retriesBad++
			problem("iteration %d: retry ended %s: %v %s", i, rec.State, err, firstError(rec))
			continue
		}
		checkCopies(rec)
		retriesOK++
	}
	h.finish()
	kills := len(restarts) + notRelaunched
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var vs []string
	for _, n := range names {
		vs = append(vs, fmt.Sprintf("%s %d", n, byVictim[n]))
	}
	rep.info(ph, "plugin processes killed (kill -9, children of the daemon per /proc)", fmt.Sprintf("%d: %s", kills, strings.Join(vs, ", ")))
	rep.add(ph, "plugins relaunched (healthy, new pid)", fmt.Sprintf("%d of %d", len(restarts), kills), notRelaunched == 0 && notChild == 0)
	rep.info(ph, "restart time, kill → listed healthy (min / median / p95 / max)", spread(restarts))
	h.mu.Lock()
	rep.add(ph, "daemon answered /healthz + /api/status while killing", fmt.Sprintf("%d of %d polls (every 50 ms), latency %s", h.ok, h.ok+h.fail, spread(h.latencies)), h.fail == 0)
	if len(h.failures) > 0 {
		problems = append(problems, h.failures...)
	}
	h.mu.Unlock()
	rep.add(ph, "discovery rounds (back to back during each kill) answered 200", fmt.Sprintf("%d of %d; %d plugin runs failed with a reason", discOK, discOK+discBad, discPluginFailed), discBad == 0)
	rep.add(ph, "rounds in flight when their discovery plugin was killed", fmt.Sprintf("%d: the plugin's run failed with a reason in %d, finished before the kill in %d, missing from the report in %d",
		discKilledMid, discVictimFailed, discKilledMid-discVictimFailed-discNoReason, discNoReason), discNoReason == 0)
	rep.add(ph, "transfers (broadcast, 3 local nodes) completed or failed with a reason", fmt.Sprintf("%d completed + %d failed with a reason, %d without (%d still running at the kill)",
		xferCompleted, xferFailedReason, xferBad, xferMid), xferBad == 0)
	rep.add(ph, "retries of the failed ones completed", fmt.Sprintf("%d of %d", retriesOK, retriesOK+retriesBad), retriesBad == 0)
	rep.add(ph, "delivered copies with a wrong SHA-256", fmt.Sprint(shaBad), shaBad == 0)
	for _, p := range problems {
		logf("plugins: problem: %s", p)
	}
	return nil
}

func firstError(rec transferRec) string {
	if rec.Error != "" {
		return rec.Error
	}
	for _, t := range rec.Targets {
		if t.Error != "" {
			return t.NodeID + ": " + t.Error
		}
	}
	return ""
}

// round is one discovery round of runRounds.
type round struct {
	start, end time.Time
	code       int
	err        error
	errs       map[string]string // plugin name -> its run's error ("" when it ran)
}

// runRounds runs discovery rounds (no connecting) one after the other until
// stop is closed, and returns them.
func runRounds(ctx context.Context, d *daemon, stop chan struct{}) []round {
	var out []round
	for {
		select {
		case <-stop:
			return out
		case <-ctx.Done():
			return out
		default:
		}
		var resp struct {
			Discovery struct {
				Plugins map[string]struct {
					Error string `json:"error"`
				} `json:"plugins"`
			} `json:"discovery"`
		}
		r := round{start: time.Now()}
		r.code, r.err = d.postJSON(ctx, "/api/cluster/discover-external", map[string]any{"connect": false, "timeout_ms": 4000}, &resp)
		r.end = time.Now()
		r.errs = map[string]string{}
		for name, run := range resp.Discovery.Plugins {
			r.errs[name] = run.Error
		}
		out = append(out, r)
		time.Sleep(20 * time.Millisecond)
	}
}
