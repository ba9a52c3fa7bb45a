//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// benchTransfer is items 2 and 4: one daemon on a fresh data dir; its idle
// RSS; then o.reps rounds, each of which uploads a file of o.size bytes
// (curl -T to PUT /api/files, next to curl -T to a plain file-writing HTTP
// server), sends it unicast to node_1 and broadcast to every demo node, each
// timed from the POST to the completed state and watched on /ws for the
// first byte written, next to cp, cp + sync, R_copy (with and without an
// fsync of the copy) and the other baselines of
// shared/reference/performance.md, all on the same filesystem. The table
// shows medians over the rounds, so the noise of a shared machine falls on
// CastRay and the baselines alike. The file is in the page cache throughout
// (it was just written), for CastRay and the baselines alike; the filesystem
// is flushed (untimed) before each step.
func benchTransfer(ctx context.Context, rep *report, o options, root string, versionRSS int64) (err error) {
	dir := filepath.Join(root, "transfer")
	dataDir, srcDir, cpDir := filepath.Join(dir, "data"), filepath.Join(dir, "src"), filepath.Join(dir, "cp")
	for _, p := range []string{dataDir, srcDir, cpDir} {
		if err := os.MkdirAll(p, 0o750); err != nil {
			return err
		}
	}
	defer os.RemoveAll(dir) // the big files go as soon as this item ends
	size := o.size

	src := filepath.Join(srcDir, "payload.bin")
	start := time.Now()
	if err := makeFile(src, size); err != nil {
		return err
	}
	_, sum, err := hashFile(src)
	if err != nil {
		return err
	}
	logf("transfer: wrote %s source file (sha256 %s) in %s", fmtSize(size), sum, fmtDur(time.Since(start)))

	// The uploads go through the curl binary, to CastRay and to the plain
	// server alike; without curl, through Go's client, to both.
	curl, lerr := exec.LookPath("curl")
	via := "curl -T"
	if lerr != nil {
		curl, via = "", "Go client PUT (curl not found)"
		logf("transfer: curl not found (%v); uploads use Go's HTTP client for CastRay and the baseline", lerr)
	}
	plain, err := startPlainServer(cpDir)
	if err != nil {
		return err
	}
	defer plain.close()
	plainClient := &http.Client{Transport: &http.Transport{}}
	defer plainClient.CloseIdleConnections()

	want, err := expectedPlugins(filepath.Join(o.binDir, "plugins"))
	if err != nil {
		return err
	}
	d, err := startTransferDaemon(ctx, o, dir, dataDir, "", want)
	if err != nil {
		return err
	}
	defer func() {
		if _, serr := d.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop daemon: %w", serr))
		}
	}()

	// Item 2: idle RSS.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.idle):
	}
	if err := addRSS(rep, d, versionRSS, fmt.Sprintf("idle %s after ready", o.idle), true); err != nil {
		return err
	}

	// One WebSocket client for the whole item, connected before the first
	// POST; it times the first transfer_progress with bytes done of each
	// transfer.
	events, err := dialEvents(ctx, d.url)
	if err != nil {
		return err
	}
	defer events.close()

	type step struct {
		name string
		f    func() (time.Duration, error)
	}
	scratch := func(i int) string { return filepath.Join(cpDir, fmt.Sprintf("scratch-%d.bin", i)) }
	scratchN := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, scratch(i))
		}
		return out
	}
	timed := func(s step) (time.Duration, error) {
		if err := settle(ctx, dir); err != nil {
			return 0, err
		}
		took, err := s.f()
		if entries, rerr := os.ReadDir(cpDir); rerr == nil {
			for _, e := range entries {
				_ = os.Remove(filepath.Join(cpDir, e.Name()))
			}
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", s.name, err)
		}
		return took, nil
	}
	up := filepath.Join(dataDir, "uploads", "payload.bin") // the transfers' source
	const (
		bCp, bCpSync, bCat, bHash = "cp", "cp + sync FILE (fsync)", "R_cat: cat f >/dev/null", "R_hash: Go sha256 of f"
		bCopy, bCopyHash, bHashCp = "R_copy: io.Copy over TCP", "R_copy+sha256 over TCP", "Go read+sha256+write+fsync"
		bCopySync                 = "R_copy + fsync of the copy"
		upCastRay                 = "upload"
	)
	upPlainSync := via + " -> plain Go server: write+fsync"
	upPlain := via + " -> plain Go server: write, no fsync"
	upSteps := []step{
		{upCastRay, func() (time.Duration, error) {
			// Untimed: remove the previous round's copy first, as the
			// baselines' copies are removed between steps; replacing it
			// inside the PUT would time the freeing of 1 GiB (and its
			// discards) on CastRay's side only.
			if code, err := d.do(ctx, "DELETE", "/api/files/payload.bin", nil, 0, nil); code != 404 && err != nil {
				return 0, fmt.Errorf("delete the previous upload: %d %v", code, err)
			}
			if err := settle(ctx, dir); err != nil {
				return 0, err
			}
			return uploadCastRay(ctx, curl, d, src, "payload.bin", size, sum)
		}},
		{upPlainSync, func() (time.Duration, error) {
			return uploadPlain(ctx, curl, plainClient, plain, src, "upload.bin", size, true)
		}},
		{upPlain, func() (time.Duration, error) {
			return uploadPlain(ctx, curl, plainClient, plain, src, "upload.bin", size, false)
		}},
	}
	uniSteps := []step{
		{bCp, func() (time.Duration, error) { return cp(ctx, up, scratch(0)) }},
		{bCpSync, func() (time.Duration, error) { return cpSync(ctx, up, scratch(0)) }},
		{bCat, func() (time.Duration, error) { return catFile(ctx, up) }},
		{bHash, func() (time.Duration, error) {
			t, s, err := hashFile(up)
			if err == nil && s != sum {
				err = fmt.Errorf("the uploaded file's sha256 is %s, the source's %s", s, sum)
			}
			return t, err
		}},
		{bCopy, func() (time.Duration, error) { return tcpCopy(ctx, up, scratch(0), false, false) }},
		{bCopySync, func() (time.Duration, error) { return tcpCopy(ctx, up, scratch(0), false, true) }},
		{bCopyHash, func() (time.Duration, error) { return tcpCopy(ctx, up, scratch(0), true, false) }},
		{bHashCp, func() (time.Duration, error) { return hashCopy(up, []string{scratch(0)}) }},
	}
	samples := map[string][]time.Duration{}
	var uniQueue, uniSend, bcSend, uniFirst, bcFirst []time.Duration
	n := 0 // broadcast receivers
	// transfer runs one transfer and records its time to the first byte.
	transfer := func(name string, body map[string]any, wantTargets int, first *[]time.Duration) (time.Duration, transferRecord, error) {
		var rec transferRecord
		took, err := timed(step{name, func() (time.Duration, error) {
			t, t0, r, err := runTransfer(ctx, d, body, size, sum, wantTargets)
			rec = r
			if err != nil {
				return 0, err
			}
			fp, err := events.wait(ctx, r.ID, 10*time.Second)
			if err != nil {
				return 0, err
			}
			*first = append(*first, fp.recv.Sub(t0))
			logf("transfer: %s %s: first byte written %s after the POST (%s by the event's daemon timestamp)",
				name, r.ID, fmtDur(fp.recv.Sub(t0)), fmtDur(fp.ts.Sub(t0)))
			return t, nil
		}})
		return took, rec, err
	}
	for round := 1; round <= o.reps; round++ {
		for _, s := range upSteps {
			took, err := timed(s)
			if err != nil {
				return err
			}
			samples[s.name] = append(samples[s.name], took)
			if s.name == upCastRay && round == 1 {
				if err := addRSS(rep, d, versionRSS, "after the upload", false); err != nil {
					return err
				}
			}
		}
		if st, err := os.Stat(up); err != nil || st.Size() != size {
			return fmt.Errorf("uploaded file %s: %v (size %v)", up, err, sizeOf(st))
		}

		for _, s := range uniSteps {
			took, err := timed(s)
			if err != nil {
				return err
			}
			samples[s.name] = append(samples[s.name], took)
		}

		took, rec, err := transfer("unicast", map[string]any{"file_name": "payload.bin", "mode": "unicast", "targets": []string{"node_1"}}, 1, &uniFirst)
		if err != nil {
			return err
		}
		samples["unicast"] = append(samples["unicast"], took)
		uniQueue = append(uniQueue, rec.StartedAt.Sub(rec.CreatedAt))
		uniSend = append(uniSend, rec.FinishedAt.Sub(rec.StartedAt))

		took, rec, err = transfer("broadcast", map[string]any{"file_name": "payload.bin", "mode": "broadcast"}, -1, &bcFirst)
		if err != nil {
			return err
		}
		n = len(rec.Targets)
		samples["broadcast"] = append(samples["broadcast"], took)
		bcSend = append(bcSend, rec.FinishedAt.Sub(rec.StartedAt))

		for _, s := range []step{
			{"bc " + bCp, func() (time.Duration, error) {
				var total time.Duration
				for _, dst := range scratchN(n) {
					t, err := cp(ctx, up, dst)
					if err != nil {
						return 0, err
					}
					total += t
				}
				return total, nil
			}},
			{"bc " + bCpSync, func() (time.Duration, error) {
				var total time.Duration
				for _, dst := range scratchN(n) {
					t, err := cpSync(ctx, up, dst)
					if err != nil {
						return 0, err
					}
					total += t
				}
				return total, nil
			}},
			{"bc " + bHashCp, func() (time.Duration, error) { return hashCopy(up, scratchN(n)) }},
		} {
			took, err := timed(s)
			if err != nil {
				return err
			}
			samples[s.name] = append(samples[s.name], took)
		}
		i := round - 1
		logf("transfer: round %d/%d: upload %s (plain+fsync %s); unicast %s (R_copy %s, +fsync %s), first byte %s; broadcast to %d nodes %s (%d x cp+sync %s)",
			round, o.reps, fmtRate(samples[upCastRay][i], size), fmtRate(samples[upPlainSync][i], size),
			fmtRate(samples["unicast"][i], size), fmtRate(samples[bCopy][i], size), fmtRate(samples[bCopySync][i], size), fmtDur(uniFirst[i]),
			n, fmtRate(samples["broadcast"][i], int64(n)*size), n, fmtDur(samples["bc "+bCpSync][i]))
	}
	med := func(name string) time.Duration { return median(samples[name]) }

	// Upload: the same command to CastRay and to the plain server.
	upl := med(upCastRay)
	what := fmt.Sprintf("upload %s: %s -> PUT /api/files (sha256 checked, fsync'd) (median of %d)", fmtSize(size), via, o.reps)
	fig := fmtRate(upl, size)
	rep.add(row{item: "4", what: what, figure: fig, baseName: upPlainSync, baseline: fmtRate(med(upPlainSync), size),
		ratio: ratio(float64(upl), float64(med(upPlainSync))), goal: "<= x1.2", verdict: verdict(float64(upl) <= 1.2*float64(med(upPlainSync)))})
	rep.add(row{item: "4", what: what, figure: fig, baseName: upPlain, baseline: fmtRate(med(upPlain), size), ratio: ratio(float64(upl), float64(med(upPlain)))})
	rep.add(row{item: "4", what: what, figure: fig, baseName: bCpSync, baseline: fmtRate(med(bCpSync), size), ratio: ratio(float64(upl), float64(med(bCpSync)))})

	// Unicast: against the TCP copies as a throughput ratio (CastRay's
	// MiB/s over the baseline's), against the rest as a time ratio.
	uni := med("unicast")
	what = fmt.Sprintf("unicast %s -> node_1, POST -> completed, verified (median of %d)", fmtSize(size), o.reps)
	fig = fmtRate(uni, size)
	for _, b := range []struct {
		name, goal string
	}{{bCopy, ">= 0.8 (MiB/s)"}, {bCopySync, ">= 0.8 (MiB/s)"}, {bCopyHash, ""}} {
		r := row{item: "4", what: what, figure: fig, baseName: b.name, baseline: fmtRate(med(b.name), size), ratio: thrRatio(uni, med(b.name))}
		if b.goal != "" {
			r.goal, r.verdict = b.goal, verdict(float64(med(b.name)) >= 0.8*float64(uni))
		}
		rep.add(r)
	}
	for _, b := range []string{bCp, bCpSync, bCat, bHash, bHashCp} {
		rep.add(row{item: "4", what: what, figure: fig, baseName: b, baseline: fmtRate(med(b), size), ratio: ratio(float64(uni), float64(med(b)))})
	}
	rep.add(row{item: "4", what: "  of which: created->started", figure: fmtDur(median(uniQueue))})
	sendPhase := median(uniSend)
	for _, b := range []string{bCpSync, bHashCp} {
		rep.add(row{item: "4", what: "  of which: plugin Send (started->finished)", figure: fmtDur(sendPhase),
			baseName: b, baseline: fmtDur(med(b)), ratio: ratio(float64(sendPhase), float64(med(b)))})
	}
	first := median(uniFirst)
	rep.add(row{item: "4", what: fmt.Sprintf("unicast %s: POST -> first byte written (1st transfer_progress on /ws, median of %d)", fmtSize(size), o.reps),
		figure: fmtDur(first), goal: "< 50 ms", verdict: verdict(first < 50*time.Millisecond)})

	bc := med("broadcast")
	what = fmt.Sprintf("broadcast %s -> %d demo nodes (median of %d)", fmtSize(size), n, o.reps)
	fig = fmtRate(bc, int64(n)*size)
	for _, b := range []struct{ key, name, goal string }{
		{"bc " + bCpSync, fmt.Sprintf("%d x (cp + sync FILE)", n), "<= x1.2"},
		{"bc " + bCp, fmt.Sprintf("%d x cp", n), ""},
		{"bc " + bHashCp, fmt.Sprintf("%s x%d", bHashCp, n), ""},
	} {
		r := row{item: "4", what: what, figure: fig, baseName: b.name, baseline: fmtRate(med(b.key), int64(n)*size), ratio: ratio(float64(bc), float64(med(b.key)))}
		if b.goal != "" {
			r.goal, r.verdict = b.goal, verdict(float64(bc) <= 1.2*float64(med(b.key)))
		}
		rep.add(r)
	}
	rep.add(row{item: "4", what: what, figure: fig, baseName: "CastRay unicast (above)", baseline: fmtDur(uni), ratio: ratio(float64(bc), float64(uni))})
	bcs := median(bcSend)
	rep.add(row{item: "4", what: "  of which: plugin Send (started->finished)", figure: fmtDur(bcs),
		baseName: fmt.Sprintf("%s x%d", bHashCp, n), baseline: fmtDur(med("bc " + bHashCp)), ratio: ratio(float64(bcs), float64(med("bc "+bHashCp)))})
	rep.add(row{item: "4", what: fmt.Sprintf("broadcast %s: POST -> first byte written (1st transfer_progress on /ws, median of %d)", fmtSize(size), o.reps),
		figure: fmtDur(median(bcFirst))})

	if err := addRSS(rep, d, versionRSS, "after the transfers", false); err != nil {
		return err
	}
	if _, err := d.stop(); err != nil {
		return fmt.Errorf("stop daemon: %w", err)
	}
	return benchUnicastNoFsync(ctx, rep, o, dir, src, sum, curl, want, func(name string, f func() (time.Duration, error)) (time.Duration, error) {
		return timed(step{name, f})
	}, bCopy)
}

// benchUnicastNoFsync puts durability apart: R_copy does not fsync, the
// local backend does by default. A second daemon, whose local backend runs
// with fsync = false, sends the same unicast (every chunk still verified)
// in turn with R_copy, so the ratio shows what verification and the daemon
// cost on their own.
func benchUnicastNoFsync(ctx context.Context, rep *report, o options, dir, src, sum, curl string, want int,
	timed func(string, func() (time.Duration, error)) (time.Duration, error), bCopy string) (err error) {
	size := o.size
	dataDir, scratch := filepath.Join(dir, "data-nofsync"), filepath.Join(dir, "cp", "nofsync-copy.bin")
	d, err := startTransferDaemon(ctx, o, dir, dataDir, "plugin \"local\" {\n  config {\n    fsync = false\n  }\n}\n", want)
	if err != nil {
		return err
	}
	defer func() {
		if _, serr := d.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop daemon: %w", serr))
		}
	}()
	if _, err := uploadCastRay(ctx, curl, d, src, "payload.bin", size, sum); err != nil {
		return err
	}
	up := filepath.Join(dataDir, "uploads", "payload.bin")
	var castray, base []time.Duration
	for round := 1; round <= o.reps; round++ {
		took, err := timed("unicast, fsync = false", func() (time.Duration, error) {
			t, _, _, err := runTransfer(ctx, d, map[string]any{"file_name": "payload.bin", "mode": "unicast", "targets": []string{"node_1"}}, size, sum, 1)
			return t, err
		})
		if err != nil {
			return err
		}
		castray = append(castray, took)
		took, err = timed(bCopy, func() (time.Duration, error) { return tcpCopy(ctx, up, scratch, false, false) })
		if err != nil {
			return err
		}
		base = append(base, took)
	}
	uni, b := median(castray), median(base)
	rep.add(row{item: "4", what: fmt.Sprintf("unicast %s -> node_1, verified, local backend fsync = false (median of %d)", fmtSize(size), o.reps),
		figure: fmtRate(uni, size), baseName: bCopy, baseline: fmtRate(b, size), ratio: thrRatio(uni, b),
		goal: ">= 0.8 (MiB/s)", verdict: verdict(float64(b) >= 0.8*float64(uni))})
	return nil
}

// startTransferDaemon starts a daemon on dataDir whose upload limit fits
// the benchmark's file, with extra configuration appended, and waits until
// its want plugins are healthy.
func startTransferDaemon(ctx context.Context, o options, dir, dataDir, extra string, want int) (*daemon, error) {
	cfgPath := filepath.Join(dir, filepath.Base(dataDir)+".hcl")
	cfg := fmt.Sprintf("file_transfer {\n  max_file_size = %d\n}\n%s", max(2*o.size, 1<<30), extra)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	d, err := startDaemon(o, dataDir, "--config", cfgPath)
	if err != nil {
		return nil, err
	}
	if _, err := d.waitReady(ctx, want, 30*time.Second); err != nil {
		_, _ = d.stop()
		return nil, err
	}
	return d, nil
}

// thrRatio is the throughput of CastRay over that of a baseline (above 1:
// CastRay is faster), for the same number of bytes.
func thrRatio(castray, baseline time.Duration) string {
	if castray <= 0 {
		return "-"
	}
	return "thr " + ratio(float64(baseline), float64(castray))
}

func sizeOf(st os.FileInfo) any {
	if st == nil {
		return "?"
	}
	return st.Size()
}

// addRSS adds the VmRSS of the daemon and of each plugin process.
func addRSS(rep *report, d *daemon, versionRSS int64, when string, goal bool) error {
	base := func() (string, string) { return "`castray version` peak RSS", fmtMiB(versionRSS) }
	if versionRSS == 0 {
		base = func() (string, string) { return "", "" }
	}
	host, err := vmRSS(d.Cmd.Process.Pid)
	if err != nil {
		return err
	}
	r := row{item: "2", what: "host VmRSS, " + when, figure: fmtMiB(host), ratio: ratio(float64(host), float64(versionRSS))}
	r.baseName, r.baseline = base()
	if goal {
		r.goal, r.verdict = "< 40 MiB", verdict(host < 40<<20)
	}
	rep.add(r)
	logf("rss %s: host %s", when, fmtMiB(host))
	for _, p := range d.plugins {
		rss, err := vmRSS(p.PID)
		if err != nil {
			return fmt.Errorf("plugin %s: %w", p.Name, err)
		}
		r := row{item: "2", what: fmt.Sprintf("plugin %q VmRSS, %s", p.Name, when), figure: fmtMiB(rss), ratio: ratio(float64(rss), float64(versionRSS))}
		r.baseName, r.baseline = base()
		rep.add(r)
		logf("rss %s: plugin %s %s", when, p.Name, fmtMiB(rss))
	}
	return nil
}

// makeFile writes size bytes of one random MiB repeated and fsyncs them, so
// no writeback of it lands inside a later measurement.
func makeFile(path string, size int64) error {
	block := make([]byte, 1<<20)
	if _, err := rand.Read(block); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for left := size; left > 0; {
		n := min(left, int64(len(block)))
		if _, err := f.Write(block[:n]); err != nil {
			return err
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

type transferRecord struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Error string `json:"error"`
	File  struct {
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"file"`
	Targets []struct {
		NodeID      string `json:"node_id"`
		State       string `json:"state"`
		BytesDone   uint64 `json:"bytes_done"`
		BytesSent   uint64 `json:"bytes_sent"`
		BytesReused uint64 `json:"bytes_reused"`
		SHA256      string `json:"sha256"`
		Location    string `json:"location"`
		Error       string `json:"error"`
	} `json:"targets"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// runTransfer POSTs a transfer and polls it until it ends. It checks the
// result (every target completed, wantTargets of them unless -1, each
// delivered file of the right size, the recorded SHA-256 and every target's
// verified SHA-256 equal to sum, no byte reused from an earlier delivery),
// removes the delivered files and returns the time from POST to the
// completed state as seen by the client, and when the POST was sent.
func runTransfer(ctx context.Context, d *daemon, body map[string]any, size int64, sum string, wantTargets int) (time.Duration, time.Time, transferRecord, error) {
	var started struct {
		Transfer transferRecord `json:"transfer"`
	}
	start := time.Now()
	if code, err := d.postJSON(ctx, "/api/transfers", body, &started); err != nil || code != 202 {
		return 0, start, started.Transfer, fmt.Errorf("POST /api/transfers: %d %v", code, err)
	}
	id := started.Transfer.ID
	deadline := start.Add(5*time.Minute + time.Duration(size/(5<<20))*time.Second)
	var rec transferRecord
	for {
		var cur struct {
			Transfer transferRecord `json:"transfer"`
		}
		if _, err := d.get(ctx, "/api/transfers/"+id, &cur); err != nil {
			return 0, start, rec, err
		}
		rec = cur.Transfer
		if rec.State == "completed" {
			break
		}
		switch rec.State {
		case "partial", "failed", "cancelled", "interrupted":
			var errs []string
			for _, t := range rec.Targets {
				if t.Error != "" {
					errs = append(errs, t.NodeID+": "+t.Error)
				}
			}
			return 0, start, rec, fmt.Errorf("transfer %s ended %s: %s [%s]", id, rec.State, rec.Error, strings.Join(errs, "; "))
		}
		if time.Now().After(deadline) {
			return 0, start, rec, fmt.Errorf("transfer %s still %s after %v", id, rec.State, time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return 0, start, rec, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	took := time.Since(start)

	var problems []error
	if wantTargets >= 0 && len(rec.Targets) != wantTargets {
		problems = append(problems, fmt.Errorf("%d targets, want %d", len(rec.Targets), wantTargets))
	}
	if sum != "" && !strings.EqualFold(rec.File.SHA256, sum) {
		problems = append(problems, fmt.Errorf("recorded sha256 %s, the file's is %s", rec.File.SHA256, sum))
	}
	for _, t := range rec.Targets {
		if sum != "" && !strings.EqualFold(t.SHA256, sum) {
			problems = append(problems, fmt.Errorf("%s: verified sha256 %q, the file's is %s", t.NodeID, t.SHA256, sum))
		}
		if t.BytesReused != 0 {
			problems = append(problems, fmt.Errorf("%s: %d bytes reused from an earlier delivery, not a full copy", t.NodeID, t.BytesReused))
		}
		st, err := os.Stat(t.Location)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: %w", t.NodeID, err))
		case st.Size() != size:
			problems = append(problems, fmt.Errorf("%s: delivered %d bytes, want %d", t.NodeID, st.Size(), size))
		}
		if t.Location != "" {
			_ = os.Remove(t.Location)
		}
	}
	return took, start, rec, errors.Join(problems...)
}

// settle flushes the filesystem holding dir (syncfs), untimed, before each
// timed step, so writeback and discards left by the previous step (or by
// other programs) do not land inside the next one.
func settle(ctx context.Context, dir string) error {
	if out, err := exec.CommandContext(ctx, "sync", "-f", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("sync -f: %v %s", err, out)
	}
	return nil
}

func cp(ctx context.Context, src, dst string) (time.Duration, error) {
	start := time.Now()
	if out, err := exec.CommandContext(ctx, "cp", src, dst).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("cp: %v %s", err, out)
	}
	return time.Since(start), nil
}

// cpSync is cp followed by `sync FILE` (an fsync of that file only), the
// durability the local backend gives each delivered file.
func cpSync(ctx context.Context, src, dst string) (time.Duration, error) {
	start := time.Now()
	if _, err := cp(ctx, src, dst); err != nil {
		return 0, err
	}
	if out, err := exec.CommandContext(ctx, "sync", dst).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("sync: %v %s", err, out)
	}
	return time.Since(start), nil
}

func catFile(ctx context.Context, path string) (time.Duration, error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "cat", path)
	cmd.Stdout, cmd.Stderr = null, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("cat: %v %s", err, stderr.String())
	}
	return time.Since(start), nil
}

func hashFile(path string) (time.Duration, string, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return 0, "", err
	}
	return time.Since(start), hex.EncodeToString(h.Sum(nil)), nil
}

// tcpCopy is performance.md's R_copy: file -> 127.0.0.1 TCP -> file with
// plain io.Copy (sendfile/splice); with withHash the receiver also computes
// the SHA-256 of the stream, with fsync it fsyncs the copy before closing
// it (the durability of a CastRay delivery).
func tcpCopy(ctx context.Context, src, dst string, withHash, fsync bool) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	start := time.Now()
	recv := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			recv <- err
			return
		}
		defer conn.Close()
		f, err := os.Create(dst)
		if err != nil {
			recv <- err
			return
		}
		defer f.Close()
		if withHash {
			h := sha256.New()
			_, err = io.Copy(io.MultiWriter(f, h), conn)
			_ = h.Sum(nil)
		} else {
			_, err = io.Copy(f, conn)
		}
		if err == nil && fsync {
			err = f.Sync()
		}
		if err == nil {
			err = f.Close()
		}
		recv <- err
	}()
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(conn, in)
	_ = conn.Close()
	if err != nil {
		return 0, err
	}
	if err := <-recv; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// hashCopy is the local backend's algorithm without the daemon or gRPC:
// read 1 MiB at a time, SHA-256 once, write to every destination, fsync
// each.
func hashCopy(src string, dsts []string) (time.Duration, error) {
	start := time.Now()
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	var outs []*os.File
	defer func() {
		for _, f := range outs {
			_ = f.Close()
		}
	}()
	for _, d := range dsts {
		f, err := os.Create(d)
		if err != nil {
			return 0, err
		}
		outs = append(outs, f)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			for _, f := range outs {
				if _, err := f.Write(buf[:n]); err != nil {
					return 0, err
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, rerr
		}
	}
	_ = h.Sum(nil)
	for _, f := range outs {
		if err := f.Sync(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
