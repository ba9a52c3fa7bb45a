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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// benchTransfer is items 2 and 4: one daemon on a fresh data dir; its idle
// RSS; then a file of o.size bytes uploaded with PUT, sent unicast to
// node_1 and broadcast to every demo node, each timed from the POST to the
// completed state, next to cp, cp+fsync and the baselines of
// shared/reference/performance.md, all on the same filesystem. The file is
// in the page cache throughout (it was just written), for CastRay and the
// baselines alike; the filesystem is flushed (untimed) before each step.
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

	cfgPath := filepath.Join(dir, "castray.hcl")
	cfg := fmt.Sprintf("file_transfer {\n  max_file_size = %d\n}\n", max(2*size, 1<<30))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	src := filepath.Join(srcDir, "payload.bin")
	start := time.Now()
	if err := makeFile(src, size); err != nil {
		return err
	}
	logf("transfer: wrote %s source file in %s", fmtSize(size), fmtDur(time.Since(start)))

	want, err := expectedPlugins(filepath.Join(o.binDir, "plugins"))
	if err != nil {
		return err
	}
	d, err := startDaemon(o, dataDir, "--config", cfgPath)
	if err != nil {
		return err
	}
	defer func() {
		if _, serr := d.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop daemon: %w", serr))
		}
	}()
	if _, err := d.waitReady(ctx, want, 30*time.Second); err != nil {
		return err
	}

	// Item 2: idle RSS.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.idle):
	}
	if err := addRSS(rep, d, versionRSS, fmt.Sprintf("idle %s after ready", o.idle), true); err != nil {
		return err
	}

	// Upload, against cp + fsync of the same file.
	if err := settle(ctx, dir); err != nil {
		return err
	}
	upTook, err := upload(ctx, d, src, size)
	if err != nil {
		return err
	}
	if err := addRSS(rep, d, versionRSS, "after the upload", false); err != nil {
		return err
	}
	if err := settle(ctx, dir); err != nil {
		return err
	}
	upBase, err := cpSync(ctx, src, filepath.Join(cpDir, "upload-baseline.bin"))
	_ = os.Remove(filepath.Join(cpDir, "upload-baseline.bin"))
	if err != nil {
		return err
	}
	rep.add(row{item: "4", what: fmt.Sprintf("upload %s: PUT /api/files (streamed, fsync'd)", fmtSize(size)), figure: fmtRate(upTook, size),
		baseName: "cp + sync FILE", baseline: fmtRate(upBase, size), ratio: ratio(float64(upTook), float64(upBase))})
	if err := os.Remove(src); err != nil {
		return err
	}
	up := filepath.Join(dataDir, "uploads", "payload.bin")
	if st, err := os.Stat(up); err != nil || st.Size() != size {
		return fmt.Errorf("uploaded file %s: %v (size %v)", up, err, sizeOf(st))
	}

	// Each round times every baseline on the uploaded file (the transfers'
	// source), a unicast to node_1, a broadcast and the broadcast's
	// baselines; the table shows medians over o.reps rounds, so the noise of
	// a shared machine falls on CastRay and the baselines alike.
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
	const (
		bCp, bCpSync, bCat, bHash = "cp", "cp + sync FILE (fsync)", "R_cat: cat f >/dev/null", "R_hash: Go sha256 of f"
		bCopy, bCopyHash, bHashCp = "R_copy: io.Copy over TCP", "R_copy+sha256 over TCP", "Go read+sha256+write+fsync"
	)
	var sum string
	uniSteps := []step{
		{bCp, func() (time.Duration, error) { return cp(ctx, up, scratch(0)) }},
		{bCpSync, func() (time.Duration, error) { return cpSync(ctx, up, scratch(0)) }},
		{bCat, func() (time.Duration, error) { return catFile(ctx, up) }},
		{bHash, func() (time.Duration, error) {
			t, s, err := hashFile(up)
			sum = s
			return t, err
		}},
		{bCopy, func() (time.Duration, error) { return tcpCopy(ctx, up, scratch(0), false) }},
		{bCopyHash, func() (time.Duration, error) { return tcpCopy(ctx, up, scratch(0), true) }},
		{bHashCp, func() (time.Duration, error) { return hashCopy(up, []string{scratch(0)}) }},
	}
	samples := map[string][]time.Duration{}
	var uniHash, uniSend, bcSend []time.Duration
	n := 0 // broadcast receivers
	for round := 1; round <= o.reps; round++ {
		for _, s := range uniSteps {
			took, err := timed(s)
			if err != nil {
				return err
			}
			samples[s.name] = append(samples[s.name], took)
		}

		var rec transferRecord
		took, err := timed(step{"unicast", func() (t time.Duration, err error) {
			t, rec, err = runTransfer(ctx, d, map[string]any{"file_name": "payload.bin", "mode": "unicast", "targets": []string{"node_1"}}, size, sum, 1)
			return t, err
		}})
		if err != nil {
			return err
		}
		samples["unicast"] = append(samples["unicast"], took)
		uniHash = append(uniHash, rec.StartedAt.Sub(rec.CreatedAt))
		uniSend = append(uniSend, rec.FinishedAt.Sub(rec.StartedAt))

		took, err = timed(step{"broadcast", func() (t time.Duration, err error) {
			t, rec, err = runTransfer(ctx, d, map[string]any{"file_name": "payload.bin", "mode": "broadcast"}, size, sum, -1)
			return t, err
		}})
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
		logf("transfer: round %d/%d: unicast %s, broadcast to %d nodes %s (cp+sync %s, x%d %s)", round, o.reps,
			fmtRate(samples["unicast"][round-1], size), n, fmtRate(samples["broadcast"][round-1], int64(n)*size),
			fmtDur(samples[bCpSync][round-1]), n, fmtDur(samples["bc "+bCpSync][round-1]))
	}
	med := func(name string) time.Duration { return median(samples[name]) }

	uni := med("unicast")
	what := fmt.Sprintf("unicast %s -> node_1, POST -> completed (median of %d)", fmtSize(size), o.reps)
	for _, b := range []string{bCp, bCpSync, bCat, bHash, bCopy, bCopyHash, bHashCp} {
		rep.add(row{item: "4", what: what, figure: fmtRate(uni, size), baseName: b, baseline: fmtRate(med(b), size), ratio: ratio(float64(uni), float64(med(b)))})
	}
	hashPhase, sendPhase := median(uniHash), median(uniSend)
	rep.add(row{item: "4", what: "  of which: host SHA-256 of source (created->started)", figure: fmtDur(hashPhase),
		baseName: bHash, baseline: fmtDur(med(bHash)), ratio: ratio(float64(hashPhase), float64(med(bHash)))})
	for _, b := range []string{bCpSync, bHashCp} {
		rep.add(row{item: "4", what: "  of which: plugin Send (started->finished)", figure: fmtDur(sendPhase),
			baseName: b, baseline: fmtDur(med(b)), ratio: ratio(float64(sendPhase), float64(med(b)))})
	}

	bc := med("broadcast")
	what = fmt.Sprintf("broadcast %s -> %d demo nodes (median of %d)", fmtSize(size), n, o.reps)
	fig := fmtRate(bc, int64(n)*size)
	for _, b := range []struct{ key, name string }{
		{"bc " + bCp, fmt.Sprintf("%d x cp", n)},
		{"bc " + bCpSync, fmt.Sprintf("%d x (cp + sync FILE)", n)},
		{"bc " + bHashCp, fmt.Sprintf("%s x%d", bHashCp, n)},
	} {
		rep.add(row{item: "4", what: what, figure: fig, baseName: b.name, baseline: fmtRate(med(b.key), int64(n)*size), ratio: ratio(float64(bc), float64(med(b.key)))})
	}
	rep.add(row{item: "4", what: what, figure: fig, baseName: "CastRay unicast (above)", baseline: fmtDur(uni), ratio: ratio(float64(bc), float64(uni))})
	bcs := median(bcSend)
	rep.add(row{item: "4", what: "  of which: plugin Send (started->finished)", figure: fmtDur(bcs),
		baseName: fmt.Sprintf("%s x%d", bHashCp, n), baseline: fmtDur(med("bc " + bHashCp)), ratio: ratio(float64(bcs), float64(med("bc "+bHashCp)))})

	return addRSS(rep, d, versionRSS, "after the transfers", false)
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
	host, err := vmRSS(d.cmd.Process.Pid)
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

func upload(ctx context.Context, d *daemon, path string, size int64) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var resp struct {
		File struct {
			Size int64 `json:"size"`
		} `json:"file"`
	}
	start := time.Now()
	code, err := d.do(ctx, "PUT", "/api/files/payload.bin", f, size, &resp)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	if code != 201 || resp.File.Size != size {
		return 0, fmt.Errorf("upload: status %d, stored %d bytes of %d", code, resp.File.Size, size)
	}
	return took, nil
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
		NodeID    string `json:"node_id"`
		State     string `json:"state"`
		BytesDone uint64 `json:"bytes_done"`
		Location  string `json:"location"`
		Error     string `json:"error"`
	} `json:"targets"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// runTransfer POSTs a transfer and polls it until it ends. It checks the
// result (every target completed, wantTargets of them unless -1, each
// delivered file of the right size, the recorded SHA-256 equal to sum),
// removes the delivered files and returns the time from POST to the
// completed state as seen by the client.
func runTransfer(ctx context.Context, d *daemon, body map[string]any, size int64, sum string, wantTargets int) (time.Duration, transferRecord, error) {
	var started struct {
		Transfer transferRecord `json:"transfer"`
	}
	start := time.Now()
	if code, err := d.postJSON(ctx, "/api/transfers", body, &started); err != nil || code != 202 {
		return 0, started.Transfer, fmt.Errorf("POST /api/transfers: %d %v", code, err)
	}
	id := started.Transfer.ID
	deadline := start.Add(5*time.Minute + time.Duration(size/(5<<20))*time.Second)
	var rec transferRecord
	for {
		var cur struct {
			Transfer transferRecord `json:"transfer"`
		}
		if _, err := d.get(ctx, "/api/transfers/"+id, &cur); err != nil {
			return 0, rec, err
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
			return 0, rec, fmt.Errorf("transfer %s ended %s: %s [%s]", id, rec.State, rec.Error, strings.Join(errs, "; "))
		}
		if time.Now().After(deadline) {
			return 0, rec, fmt.Errorf("transfer %s still %s after %v", id, rec.State, time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return 0, rec, ctx.Err()
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
	return took, rec, errors.Join(problems...)
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
// plain io.Copy (sendfile/splice), and with withHash the receiver also
// computes the SHA-256 of the stream.
func tcpCopy(ctx context.Context, src, dst string, withHash bool) (time.Duration, error) {
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
