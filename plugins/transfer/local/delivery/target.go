package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/partial"
)

// target is the delivery to one node. Its files are touched by its own
// goroutine only (serve); the fields marked "mu" are shared under run.mu.
type target struct {
	node  string
	inbox string // "" when the target was refused before any file work
	final string
	start time.Time

	part     *os.File
	jrnl     *partial.Journal
	partInfo os.FileInfo // to remove only the files this Send opened
	jrnlInfo os.FileInfo
	// kept marks the chunks verified from an earlier Send (nil: none).
	kept   []bool
	left   uint64 // chunks still to write
	reused uint64
	// progress bookkeeping, goroutine-local
	progSent bool
	lastProg time.Time
	lastDone uint64

	wake     chan struct{} // a chunk was queued
	dead     chan struct{} // closed when the target leaves stLive
	prepared chan struct{} // closed when the target needs no more preparation
	gone     chan struct{} // closed when the Send need not wait for it
	prepOnce sync.Once
	goneOnce sync.Once

	// mu
	status    tstate
	err       error
	sent      uint64
	queue     []*slot
	inflight  *slot
	inBatch   bool
	busySince time.Time // a file operation is running since then
	busyOp    string
	semHeld   bool
	detached  bool
	reported  bool
	exited    bool
	opened    bool // part and journal were opened by this Send
}

func newTarget(r *run, spec *sdk.Target) *target {
	t := &target{node: spec.GetNodeId(), start: r.clock.Now(), left: r.lay.n,
		wake: make(chan struct{}, 1), dead: make(chan struct{}), prepared: make(chan struct{}), gone: make(chan struct{})}
	inbox := spec.GetAttributes()["inbox_dir"]
	var err error
	switch {
	case spec.GetKind() != "" && spec.GetKind() != "local":
		err = fmt.Errorf("node kind %q is not reachable by the local backend", spec.GetKind())
	case inbox == "":
		err = errors.New("target has no inbox_dir attribute")
	}
	if err == nil {
		if st, serr := os.Stat(inbox); serr != nil {
			err = fmt.Errorf("inbox %s: %w", inbox, serr)
		} else if !st.IsDir() {
			err = fmt.Errorf("inbox %s is not a directory", inbox)
		}
	}
	if err != nil {
		t.status, t.err = stFailed, err
		close(t.dead)
		return t
	}
	t.inbox, t.final = inbox, filepath.Join(inbox, r.lay.name)
	return t
}

func (t *target) needs(i uint64) bool { return t.left > 0 && (t.kept == nil || !t.kept[i]) }

func (t *target) signalPrepared() { t.prepOnce.Do(func() { close(t.prepared) }) }
func (t *target) signalGone()     { t.goneOnce.Do(func() { close(t.gone) }) }

// serve is a target's goroutine: prepare, write every chunk the reader
// hands over, commit; then clean up and report.
//
// verdict is closed when the batch's reader is done: every chunk was read
// and verified, or the targets have failed.
func (r *run) serve(t *target, verdict <-chan struct{}) {
	defer r.exit(t)
	ok := r.prepare(t)
	t.signalPrepared()
	if !ok {
		r.mu.Lock()
		done := t.status == stDone
		r.mu.Unlock()
		if done {
			r.progress(t, true)
		}
		return
	}
	for {
		s := r.next(t)
		if s == nil {
			break
		}
		if !r.write(t, s) {
			return
		}
		r.progress(t, false)
	}
	r.commit(t, verdict)
}

// begin claims a writer slot for a file operation of t and marks t busy
// (for the idle timeout). False when t is no longer live.
func (r *run) begin(t *target, op string) bool {
	select {
	case r.sem <- struct{}{}:
	case <-t.dead:
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.status != stLive {
		<-r.sem
		return false
	}
	t.semHeld, t.busySince, t.busyOp = true, r.clock.Now(), op
	return true
}

// finishLocked ends a file operation of t begun by begin. False when the
// goroutine must stop: t was detached by the idle timeout meanwhile (its
// slot is already free) or is no longer live.
func (r *run) finishLocked(t *target) bool {
	t.busySince, t.busyOp = time.Time{}, ""
	if t.detached {
		return false
	}
	if t.semHeld {
		<-r.sem
		t.semHeld = false
	}
	return t.status == stLive
}

// prepare opens t's part and journal: with resume, those an earlier Send
// left (every journaled chunk verified again), else new ones.
func (r *run) prepare(t *target) bool {
	if !r.begin(t, "opening files in "+t.inbox) {
		return false
	}
	done, err := r.open(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && t.part != nil {
		t.opened = true
	}
	if !r.finishLocked(t) {
		return false
	}
	if err != nil {
		r.endLocked(t, stFailed, err)
		return false
	}
	if done {
		// Delivered by an earlier Send that stopped before removing its
		// journal; the final file verified.
		t.status = stDone
		r.live--
		close(t.dead)
		return false
	}
	return true
}

// open does prepare's file work; done reports that the final file is
// already there and verified.
func (r *run) open(t *target) (done bool, err error) {
	partPath, jPath := r.partPath(t), r.journalPath(t)
	if r.resume {
		j, err := partial.Open(jPath, r.lay.hdr)
		switch {
		case err == nil:
			part, perr := os.OpenFile(partPath, os.O_RDWR|oNoFollow, 0)
			if perr == nil {
				t.part, t.jrnl = part, j
				t.partInfo, _ = part.Stat()
				t.jrnlInfo, _ = os.Lstat(jPath)
				r.verifyKept(t)
				return false, nil
			}
			_ = j.Close()
			if errors.Is(perr, fs.ErrNotExist) && r.finalMatches(t) {
				if err := os.Remove(jPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
					r.b.log.Warn("remove journal", "path", jPath, "error", err)
				}
				r.mu.Lock()
				t.reused, t.left = r.lay.size, 0
				r.mu.Unlock()
				return true, nil
			}
		case !errors.Is(err, fs.ErrNotExist):
			r.b.log.Debug("partial state not reused", "transfer", r.id, "node", t.node, "error", err)
		}
	}
	if err := partial.Remove(t.inbox, r.id); err != nil {
		return false, fmt.Errorf("discard old partial state: %w", err)
	}
	part, err := os.OpenFile(partPath, os.O_RDWR|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return false, fmt.Errorf("create %s: %w", partPath, err)
	}
	j, err := partial.Create(jPath, r.lay.hdr)
	if err != nil {
		_ = part.Close()
		_ = os.Remove(partPath)
		return false, fmt.Errorf("create %s: %w", jPath, err)
	}
	t.part, t.jrnl = part, j
	t.partInfo, _ = part.Stat()
	t.jrnlInfo, _ = os.Lstat(jPath)
	return false, nil
}

// verifyKept reads back every chunk the journal lists and keeps those
// whose CRC32C matches both the journal and the stored digest.
func (r *run) verifyKept(t *target) {
	chunks := t.jrnl.Chunks()
	idx := make([]uint64, 0, len(chunks))
	for i := range chunks {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var (
		buf    []byte
		kept   []bool
		left   = r.lay.n
		reused uint64
	)
	defer func() {
		r.mu.Lock()
		t.kept, t.left, t.reused = kept, left, reused
		r.mu.Unlock()
	}()
	for _, i := range idx {
		select {
		case <-t.dead:
			return
		default:
		}
		n := r.lay.chunkLen(i)
		if buf == nil {
			buf = make([]byte, min(uint64(r.lay.chunk), r.lay.size))
		}
		if _, err := t.part.ReadAt(buf[:n], int64(i)*int64(r.lay.chunk)); err != nil {
			continue
		}
		r.touch(t)
		crc := partial.CRC32C(buf[:n])
		if crc != chunks[i] || crc != r.lay.crcs[i] {
			r.b.log.Debug("kept chunk failed verification", "transfer", r.id, "node", t.node, "chunk", i)
			continue
		}
		if kept == nil {
			kept = make([]bool, r.lay.n)
		}
		kept[i] = true
		left--
		reused += uint64(n)
	}
}

// finalMatches reports whether the final file is a regular file (not a
// link) whose SHA-256 is the source's.
func (r *run) finalMatches(t *target) bool {
	if r.lay.sha == "" {
		return false
	}
	f, err := os.OpenFile(t.final, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || uint64(st.Size()) != r.lay.size {
		return false
	}
	h := sha256.New()
	buf := make([]byte, min(uint64(r.lay.chunk), max(r.lay.size, 1)))
	for {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		r.touch(t)
		if err == io.EOF {
			break
		}
		if err != nil {
			return false
		}
	}
	return hex.EncodeToString(h.Sum(nil)) == r.lay.sha
}

// touch tells the idle timeout that a long file operation of t (reading
// back a part, hashing a final file) is making progress.
func (r *run) touch(t *target) {
	r.mu.Lock()
	if !t.busySince.IsZero() {
		t.busySince = r.clock.Now()
	}
	r.mu.Unlock()
}

// next waits for the next chunk queued for t; nil when t needs no more or
// is no longer live.
func (r *run) next(t *target) *slot {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if t.status != stLive {
			return nil
		}
		if len(t.queue) > 0 {
			s := t.queue[0]
			t.queue[0] = nil
			t.queue = t.queue[1:]
			t.inflight = s
			return s
		}
		if t.left == 0 {
			return nil
		}
		r.mu.Unlock()
		select {
		case <-t.wake:
		case <-t.dead:
		}
		r.mu.Lock()
	}
}

// write writes one chunk to t's part, records it in the journal and starts
// its writeback. False when t stops.
func (r *run) write(t *target, s *slot) bool {
	if !r.begin(t, fmt.Sprintf("write of chunk %d to %s", s.index, t.part.Name())) {
		r.mu.Lock()
		t.inflight = nil
		r.unrefLocked(s)
		r.mu.Unlock()
		return false
	}
	if r.hooks.beforeWrite != nil {
		r.hooks.beforeWrite(t.node, s.index)
	}
	// The context is checked here, not only by the watcher goroutine, so
	// that nothing is written once it has ended.
	stop := r.ctx.Err()
	var err error
	if stop == nil {
		off := int64(s.index) * int64(r.lay.chunk)
		if _, err = t.part.WriteAt(s.data, off); err != nil {
			err = fmt.Errorf("write %s: %w", t.part.Name(), err)
		}
		if err == nil {
			err = t.jrnl.Append(s.index, s.crc)
		}
		if err == nil && r.cfg.Fsync {
			if err = startWriteback(t.part, off, len(s.data)); err != nil {
				err = fmt.Errorf("writeback %s: %w", t.part.Name(), err)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.inflight = nil
	r.unrefLocked(s)
	if !r.finishLocked(t) {
		return false
	}
	switch {
	case stop != nil:
		if r.stopErr == nil {
			r.stopErr = stop
		}
		r.endLocked(t, stStopped, stop)
		return false
	case err != nil:
		r.endLocked(t, stFailed, err)
		return false
	}
	t.left--
	t.sent += uint64(len(s.data))
	return true
}

// progress reports t's bytes: at once after the first chunk, then at most
// every progress interval; final forces a report of the total.
func (r *run) progress(t *target, final bool) {
	r.mu.Lock()
	done := t.reused + t.sent
	r.mu.Unlock()
	now := r.clock.Now()
	switch {
	case final && t.progSent && t.lastDone == done:
		return
	case !final && t.progSent && now.Sub(t.lastProg) < r.interval:
		return
	}
	t.progSent, t.lastProg, t.lastDone = true, now, done
	r.emitProgress(&sdk.TargetProgress{NodeId: t.node, BytesDone: done, BytesTotal: r.lay.size})
}

// commit waits until the source is verified, then syncs the part, makes it
// readable, renames it to the final name, syncs the folder and removes the
// journal.
func (r *run) commit(t *target, verdict <-chan struct{}) {
	select {
	case <-verdict:
	case <-t.dead:
		return
	}
	if !r.begin(t, "sync of "+t.part.Name()) {
		return
	}
	var err error
	if r.cfg.Fsync {
		err = t.part.Sync()
	}
	if err == nil {
		err = t.part.Chmod(0o644)
	}
	r.mu.Lock()
	if !r.finishLocked(t) {
		r.mu.Unlock()
		return
	}
	if err != nil {
		r.endLocked(t, stFailed, fmt.Errorf("commit %s: %w", t.part.Name(), err))
		r.mu.Unlock()
		return
	}
	t.status = stCommitting
	r.live--
	r.mu.Unlock()

	partPath := t.part.Name()
	if err := os.Rename(partPath, t.final); err != nil {
		r.mu.Lock()
		t.status, t.err = stFailed, fmt.Errorf("rename into place: %w", err)
		r.mu.Unlock()
		return
	}
	if r.cfg.Fsync {
		if err := syncDir(t.inbox); err != nil {
			r.b.log.Warn("sync inbox", "dir", t.inbox, "error", err)
		}
	}
	_ = t.part.Close()
	t.part = nil
	jPath := t.jrnl.Name()
	_ = t.jrnl.Close()
	t.jrnl = nil
	if err := removeOwn(jPath, t.jrnlInfo); err != nil {
		r.b.log.Warn("remove journal", "path", jPath, "error", err)
	}
	r.mu.Lock()
	t.status = stDone
	r.mu.Unlock()
	r.progress(t, true)
}

// exit ends a target's goroutine: files closed, partial state removed
// unless it is kept for resume, result reported.
func (r *run) exit(t *target) {
	if t.part != nil {
		_ = t.part.Close()
	}
	if t.jrnl != nil {
		_ = t.jrnl.Close()
	}
	r.mu.Lock()
	st, detached, report := t.status, t.detached, !t.reported
	t.reported, t.exited = true, true
	r.mu.Unlock()
	switch st {
	case stFailed, stCancelled:
		r.discard(t)
	}
	if report && !detached {
		r.report(t)
	}
	t.signalPrepared()
	t.signalGone()
	if detached {
		r.b.detached.Done()
	}
}

// discard removes t's partial state: the files this Send opened when it
// opened them (checked to be the same files, so a later Send's are safe),
// else whatever state of this transfer is in the inbox.
func (r *run) discard(t *target) {
	if t.inbox == "" {
		return
	}
	var err error
	if t.partInfo == nil && t.jrnlInfo == nil {
		err = partial.Remove(t.inbox, r.id)
	} else {
		err = errors.Join(removeOwn(r.partPath(t), t.partInfo), removeOwn(r.journalPath(t), t.jrnlInfo))
	}
	if err != nil {
		r.b.log.Warn("discard partial state", "transfer", r.id, "node", t.node, "error", err)
	}
}

// removeOwn removes path if it is still the file described by info.
func removeOwn(path string, info os.FileInfo) error {
	if info == nil {
		return nil
	}
	cur, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if !os.SameFile(cur, info) {
		return nil
	}
	return syscall.Unlink(path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
