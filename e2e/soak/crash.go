//go:build linux

package main

import (
	"context"
	"fmt"
	mrand "math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// daemonPhase is phase 2: kill -9 of the daemon mid-broadcast, o.daemonKills
// times, each followed by a restart on the same data dir and checks of the
// disk, the record and the resume.
func daemonPhase(ctx context.Context, rep *report, o options, rng *mrand.Rand, dir string) error {
	const ph = "2 daemon"
	dataDir := filepath.Join(dir, "data")
	pdir := filepath.Join(dir, "plugins")
	for _, p := range []string{pdir, dataDir} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	if err := linkOrCopy(filepath.Join(o.binDir, "plugins", "castray-transfer-local"), filepath.Join(pdir, "castray-transfer-local")); err != nil {
		return err
	}
	// Every fourth restart resumes on its own (file_transfer.resume_on_start);
	// the others are resumed by POST /api/transfers/{id}/retry.
	rate := o.size / 2 // about 2 s per transfer
	cfgs := map[bool]string{false: filepath.Join(dir, "retry.hcl"), true: filepath.Join(dir, "resume.hcl")}
	for resume, path := range cfgs {
		if err := os.WriteFile(path, []byte(localConfig(rate, resume)), 0o600); err != nil {
			return err
		}
	}
	var d *daemon
	defer func() {
		if d != nil {
			if err := d.stop(); err != nil {
				rep.add(ph, "clean stop", err.Error(), false)
			}
		}
	}()
	start := func(resume bool) (time.Duration, error) {
		var err error
		d, err = startDaemon(o.binDir, pdir, dataDir, cfgs[resume])
		if err != nil {
			return 0, err
		}
		err = d.waitReady(ctx, []string{"local"}, 2*time.Minute)
		return time.Since(d.started), err
	}
	if _, err := start(false); err != nil {
		return err
	}

	sums := map[string]string{} // file name -> SHA-256 of its source
	var (
		kills, killedMid, pluginsOutlived       int
		badCopies, copiesChecked, leftoverParts int
		recordsTrue, recordsFalse               int
		resumedOK, resumedBad, resumedReusing   int
		inPlace                                 int
		bytesReused                             uint64
		restarts                                []time.Duration
		problems                                []string
	)
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		logf("daemon: PROBLEM %s", msg)
		if len(problems) < 10 {
			problems = append(problems, msg)
		}
	}
	// checkDisk compares every file under a final name in every inbox with
	// its source.
	checkDisk := func(i int) {
		for _, n := range demoNodes {
			entries, _ := os.ReadDir(filepath.Join(dataDir, "inbox", n))
			for _, e := range entries {
				if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
					continue
				}
				copiesChecked++
				got, err := fileSHA(filepath.Join(dataDir, "inbox", n, e.Name()))
				if want, ok := sums[e.Name()]; err != nil || !ok || got != want {
					badCopies++
					problem("iteration %d: %s/%s under its final name differs from its source (%v)", i, n, e.Name(), err)
				}
			}
		}
	}
	for i := 0; i < o.daemonKills && ctx.Err() == nil; i++ {
		name := fmt.Sprintf("crash-%02d.bin", i)
		payload, sum, err := randomFile(o.size)
		if err != nil {
			return err
		}
		if err := d.upload(ctx, name, payload); err != nil {
			return fmt.Errorf("iteration %d: upload: %w", i, err)
		}
		sums[name] = sum
		id, err := d.startTransfer(ctx, map[string]any{"file_name": name, "mode": "broadcast"})
		if err != nil {
			return fmt.Errorf("iteration %d: start transfer: %w", i, err)
		}
		// Anywhere from its start to about its end (it takes about 2 s).
		time.Sleep(100*time.Millisecond + time.Duration(rng.Int63n(int64(1900*time.Millisecond))))
		if rec, err := d.transfer(ctx, id); err == nil && !ended(rec.State) {
			killedMid++
		}
		kids := d.kill9()
		kills++
		if left := waitGone(kids, 15*time.Second); len(left) > 0 {
			pluginsOutlived++
			problem("iteration %d: plugin processes %v outlived the daemon's kill -9 by 15 s", i, left)
		}
		checkDisk(i)

		resume := i%4 == 3
		took, err := start(resume)
		if err != nil {
			return fmt.Errorf("iteration %d: restart: %w", i, err)
		}
		restarts = append(restarts, took)
		// host/transfer logs it when it finds a copy in place that the
		// killed daemon had not recorded (the window of a kill -9 between
		// the backend's rename and the record).
		if strings.Contains(d.Log.String(), "had its copy in place") {
			inPlace++
		}
		rec, err := d.transfer(ctx, id)
		if err != nil {
			return fmt.Errorf("iteration %d: record after restart: %w", i, err)
		}
		if resume {
			// The daemon resumes it in the background once it is up: the
			// record says interrupted until then (unless every copy was in
			// place already). Check it once the resumed run has ended.
			for deadline := time.Now().Add(time.Minute); rec.State == "interrupted" && rec.Attempts < 2 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				if rec, err = d.transfer(ctx, id); err != nil {
					return fmt.Errorf("iteration %d: record after restart: %w", i, err)
				}
			}
			if rec, err = d.waitTransfer(ctx, id, 3*time.Minute); err != nil {
				resumedBad++
				problem("iteration %d: resume on start: %v", i, err)
				continue
			}
		}
		// The record is true: a completed target has its copy, any other has
		// none under the final name.
		truth := true
		for _, t := range rec.Targets {
			path := filepath.Join(dataDir, "inbox", t.NodeID, name)
			got, err := fileSHA(path)
			switch {
			case t.State == "completed" && (err != nil || got != sum):
				truth = false
				problem("iteration %d: record says %s completed, disk: %v", i, t.NodeID, err)
			case t.State != "completed" && err == nil:
				truth = false
				problem("iteration %d: record says %s %s, yet the file is there", i, t.NodeID, t.State)
			}
		}
		if !resume && rec.State != "interrupted" && rec.State != "completed" {
			truth = false
			problem("iteration %d: after a kill -9 the record is %s (want interrupted, or completed)", i, rec.State)
		}
		if truth {
			recordsTrue++
		} else {
			recordsFalse++
		}
		if !resume && rec.State != "completed" {
			if _, err := d.postJSON(ctx, "/api/transfers/"+id+"/retry", nil, nil); err != nil {
				resumedBad++
				problem("iteration %d: retry: %v", i, err)
				continue
			}
			if rec, err = d.waitTransfer(ctx, id, 3*time.Minute); err != nil {
				resumedBad++
				problem("iteration %d: retry: %v", i, err)
				continue
			}
		}
		if rec.State != "completed" {
			resumedBad++
			problem("iteration %d: resumed transfer ended %s: %s", i, rec.State, firstError(rec))
			continue
		}
		resumedOK++
		reused := false
		for _, t := range rec.Targets {
			bytesReused += t.BytesReused
			reused = reused || t.BytesReused > 0
		}
		if reused {
			resumedReusing++
		}
		checkDisk(i)
		// Nothing of this transfer left behind.
		for _, n := range demoNodes {
			entries, _ := os.ReadDir(filepath.Join(dataDir, "inbox", n))
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".castray-") && strings.Contains(e.Name(), id) {
					leftoverParts++
					problem("iteration %d: %s/%s left behind", i, n, e.Name())
				}
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rep.info(ph, "daemon killed (kill -9) mid-broadcast, restarted on the same data dir", fmt.Sprintf("%d (%d while the transfer ran; any other just after it ended)", kills, killedMid))
	rep.add(ph, "files under a final name that differ from their source", fmt.Sprintf("%d of %d checked after every kill and every resume", badCopies, copiesChecked), badCopies == 0)
	rep.add(ph, "records true after the restart (completed ⇔ the copy is there)", fmt.Sprintf("%d of %d", recordsTrue, recordsTrue+recordsFalse), recordsFalse == 0)
	rep.info(ph, "restarts that found a copy in place the killed daemon had not recorded", fmt.Sprint(inPlace))
	rep.add(ph, "transfers completed after retry or resume_on_start", fmt.Sprintf("%d of %d (%d reused journaled chunks, %.0f MiB reused in all)", resumedOK, resumedOK+resumedBad, resumedReusing, float64(bytesReused)/(1<<20)), resumedBad == 0)
	rep.add(ph, "part files left behind / plugins outliving the daemon", fmt.Sprintf("%d / %d", leftoverParts, pluginsOutlived), leftoverParts == 0 && pluginsOutlived == 0)
	rep.info(ph, "restart time, exec → /healthz and plugin healthy (min / median / p95 / max)", spread(restarts))
	for _, p := range problems {
		logf("daemon: problem: %s", p)
	}
	return nil
}
