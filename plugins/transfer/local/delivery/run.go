package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/partial"
)

// tstate is where a target's delivery is. A target leaves stLive once; who
// moves it (its own goroutine, the reader, the idle watchdog, Cancel, the
// end of the context) is the only one to decide its fate, under run.mu.
type tstate int

const (
	stLive       tstate = iota
	stCommitting        // synced and renaming: can no longer be stopped
	stDone
	stFailed    // partial state removed
	stCancelled // Cancel: partial state removed
	stStopped   // context or stream gone: partial state kept for resume
)

var errCancelled = errors.New("cancelled")

// slot is one chunk of the source in a pipeline buffer, shared by the
// targets that need it.
type slot struct {
	index uint64
	buf   []byte // the whole buffer, returned to run.free when refs is 0
	data  []byte // the chunk
	crc   uint32
	refs  int // targets that have not finished with it
}

// run is one Send.
type run struct {
	b        *Backend
	id       string
	path     string
	lay      layout
	cfg      Config
	sink     sdk.TransferSink
	clock    clock
	hooks    hooks
	resume   bool
	idle     time.Duration
	interval time.Duration
	limiter  *rate.Limiter
	// sem bounds the target files written, verified or synced at once.
	sem chan struct{}
	ctx context.Context

	mu        sync.Mutex
	targets   []*target
	free      [][]byte
	buffers   int // buffers in existence (free or in a slot)
	wakeR     chan struct{}
	live      int // stLive targets of the current batch
	stopBatch context.CancelFunc
	// stopErr is why the Send stopped keeping partial state (the context
	// ended or the stream broke).
	stopErr error

	sinkMu sync.Mutex
}

func newRun(ctx context.Context, b *Backend, req *sdk.SendRequest, lay layout, cfg Config, sink sdk.TransferSink) *run {
	r := &run{
		b: b, id: req.GetTransferId(), path: req.GetFile().GetPath(), lay: lay, cfg: cfg, sink: sink, clock: b.clock, hooks: b.hooks,
		resume:   req.GetResume() && lay.crcs != nil,
		idle:     time.Duration(req.GetIdleTimeoutMs()) * time.Millisecond,
		interval: time.Duration(cfg.ProgressIntervalMS) * time.Millisecond,
		sem:      make(chan struct{}, cfg.Writers),
		ctx:      ctx,
		wakeR:    make(chan struct{}, 1),
	}
	if cfg.MaxRate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(cfg.MaxRate), int(lay.chunk))
	}
	for _, spec := range req.GetTargets() {
		r.targets = append(r.targets, newTarget(r, spec))
	}
	return r
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// execute delivers to every target, in batches small enough for the open
// file limit (each target holds two descriptors), and returns the summary.
func (r *run) execute() *sdk.SendSummary {
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-r.ctx.Done():
			r.stopAll(r.ctx.Err())
		case <-finished:
		}
	}()

	src, err := r.openSource()
	if err != nil {
		r.failAll(err)
	} else {
		defer src.Close()
	}
	batch := r.hooks.maxBatch
	if batch <= 0 {
		batch = max(8, (openFileLimit()-128)/2)
	}
	for start := 0; start < len(r.targets); start += batch {
		r.runBatch(src, r.targets[start:min(start+batch, len(r.targets))])
	}

	summary := &sdk.SendSummary{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.targets {
		if t.status == stDone {
			summary.Succeeded++
			summary.Bytes += r.lay.size
		} else {
			summary.Failed++
		}
	}
	return summary
}

// openSource opens the source without following a symlink and checks that
// it still has the size it was stored with.
func (r *run) openSource() (*os.File, error) {
	f, err := os.OpenFile(r.path, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("stat source: %w", err)
	case !st.Mode().IsRegular():
		err = fmt.Errorf("source %s is not a regular file", r.path)
	case uint64(st.Size()) != r.lay.size:
		err = fmt.Errorf("source %s is %d bytes, stored as %d (changed since it was stored)", r.path, st.Size(), r.lay.size)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// runBatch runs the pipeline for some targets: each target's goroutine
// prepares its files (resuming what it can), then the reader reads every
// chunk some target needs, checks it and hands it to those targets, whose
// goroutines write it; then each target commits.
func (r *run) runBatch(src *os.File, batch []*target) {
	bctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	verdict := make(chan struct{})
	r.mu.Lock()
	r.stopBatch, r.live = cancel, 0
	for _, t := range batch {
		t.inBatch = true
		if t.status == stLive {
			r.live++
		}
	}
	if r.live == 0 {
		cancel()
	}
	r.mu.Unlock()

	watchDone := make(chan struct{})
	if r.idle > 0 {
		go r.watch(batch, watchDone)
	}
	for _, t := range batch {
		go r.serve(t, verdict)
	}
	for _, t := range batch {
		<-t.prepared
	}
	r.read(bctx, src, batch, verdict)
	for _, t := range batch {
		<-t.gone
	}
	close(watchDone)
	r.mu.Lock()
	for _, t := range batch {
		t.inBatch = false
	}
	r.stopBatch = nil
	r.mu.Unlock()
}

// read is the pipeline's reader. It always closes verdict, after failing
// every target when the source did not verify.
func (r *run) read(ctx context.Context, src *os.File, batch []*target, verdict chan<- struct{}) {
	defer close(verdict)
	if src == nil {
		return // every target has failed already
	}
	var h hash.Hash
	if r.lay.crcs == nil {
		h = sha256.New()
	}
	for i := uint64(0); i < r.lay.n; i++ {
		buf, ok := r.takeBuffer(ctx, batch, i)
		if !ok {
			return
		}
		if buf == nil {
			continue // no target needs chunk i
		}
		n := r.lay.chunkLen(i)
		if r.limiter != nil {
			if err := r.limiter.WaitN(ctx, n); err != nil {
				r.putBuffer(buf)
				return
			}
		}
		data := buf[:n]
		off := int64(i) * int64(r.lay.chunk)
		if _, err := src.ReadAt(data, off); err != nil {
			r.putBuffer(buf)
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("source %s ends before its stored size %d (changed since it was stored)", src.Name(), r.lay.size)
			} else {
				err = fmt.Errorf("read source: %w", err)
			}
			r.failAll(err)
			return
		}
		crc := partial.CRC32C(data)
		if r.lay.crcs != nil && crc != r.lay.crcs[i] {
			r.putBuffer(buf)
			r.failAll(fmt.Errorf("source %s changed since it was stored: chunk %d (bytes %d-%d) has CRC32C %08x, stored %08x",
				src.Name(), i, off, off+int64(n)-1, crc, r.lay.crcs[i]))
			return
		}
		if h != nil {
			h.Write(data)
		}
		r.publish(batch, &slot{index: i, buf: buf, data: data, crc: crc})
	}
	if h != nil {
		if sum := hex.EncodeToString(h.Sum(nil)); sum != r.lay.sha {
			r.failAll(fmt.Errorf("sha256 mismatch: read %s, expected %s (source changed since it was stored?)", sum, r.lay.sha))
		}
	}
}

// takeBuffer returns a free buffer for chunk i, nil when no live target
// needs chunk i, or false when no live target is left or ctx ended.
func (r *run) takeBuffer(ctx context.Context, batch []*target, i uint64) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.live == 0 || ctx.Err() != nil {
			return nil, false
		}
		needed := false
		for _, t := range batch {
			if t.status == stLive && t.needs(i) {
				needed = true
				break
			}
		}
		// Without chunk digests every chunk feeds the SHA-256.
		if !needed && r.lay.crcs != nil {
			return nil, true
		}
		if n := len(r.free); n > 0 {
			buf := r.free[n-1]
			r.free = r.free[:n-1]
			return buf, true
		}
		if r.buffers < r.cfg.PipelineDepth {
			r.buffers++
			return make([]byte, min(uint64(r.lay.chunk), r.lay.size)), true
		}
		r.mu.Unlock()
		select {
		case <-r.wakeR:
		case <-ctx.Done():
		}
		r.mu.Lock()
	}
}

// publish hands a read and verified chunk to every live target that needs
// it.
func (r *run) publish(batch []*target, s *slot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range batch {
		if t.status == stLive && t.needs(s.index) {
			t.queue = append(t.queue, s)
			s.refs++
			notify(t.wake)
		}
	}
	if s.refs == 0 {
		r.putBufferLocked(s.buf)
	}
}

func (r *run) putBuffer(buf []byte) {
	r.mu.Lock()
	r.putBufferLocked(buf)
	r.mu.Unlock()
}

// putBufferLocked returns a buffer to the ring, or drops it when the ring
// got a replacement for it (see detach).
func (r *run) putBufferLocked(buf []byte) {
	if r.buffers > r.cfg.PipelineDepth {
		r.buffers--
	} else {
		r.free = append(r.free, buf)
	}
	notify(r.wakeR)
}

func (r *run) unrefLocked(s *slot) {
	s.refs--
	if s.refs == 0 {
		r.putBufferLocked(s.buf)
	}
}

// endLocked moves a live target to a final state: it gives back the chunks
// it still had queued and wakes whoever waits on it. It reports whether
// the target was live.
func (r *run) endLocked(t *target, st tstate, err error) bool {
	if t.status != stLive {
		return false
	}
	t.status, t.err = st, err
	if t.inBatch {
		r.live--
		if r.live == 0 && r.stopBatch != nil {
			r.stopBatch()
		}
	}
	for _, s := range t.queue {
		r.unrefLocked(s)
	}
	t.queue = nil
	close(t.dead)
	notify(r.wakeR)
	return true
}

// failAll fails every live target with a problem of the source.
func (r *run) failAll(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.targets {
		r.endLocked(t, stFailed, err)
	}
}

// stopAll stops every live target keeping its partial state: the context
// ended or the stream broke, not a Cancel.
func (r *run) stopAll(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopErr == nil {
		r.stopErr = err
	}
	for _, t := range r.targets {
		r.endLocked(t, stStopped, err)
	}
}

// cancel is Cancel (nodes nil) or CancelTargets: the targets stop and
// their partial state goes, also the state of a target that an ended
// context already stopped.
func (r *run) cancel(nodes map[string]bool) {
	var orphans []*target
	r.mu.Lock()
	for _, t := range r.targets {
		if nodes != nil && !nodes[t.node] {
			continue
		}
		switch t.status {
		case stLive:
			r.endLocked(t, stCancelled, errCancelled)
		case stStopped:
			t.status = stCancelled
			if t.exited {
				orphans = append(orphans, t)
			}
		}
	}
	r.mu.Unlock()
	for _, t := range orphans {
		r.discard(t)
	}
}

// stopped returns why the Send stopped keeping partial state, if it did.
func (r *run) stopped() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.targets {
		if t.status == stStopped {
			return r.stopErr
		}
	}
	return nil
}

// keptDirs lists the inboxes where partial state was kept.
func (r *run) keptDirs() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for _, t := range r.targets {
		if t.status == stStopped && t.opened {
			out[t.node] = t.inbox
		}
	}
	return out
}

// watch is the idle timeout: a target whose file operation has not
// returned for r.idle fails, and the pipeline goes on without it.
func (r *run) watch(batch []*target, done <-chan struct{}) {
	tick := min(max(r.idle/4, time.Millisecond), time.Second)
	for {
		select {
		case <-done:
			return
		case <-r.clock.After(tick):
		}
		var killed []*target
		r.mu.Lock()
		now := r.clock.Now()
		for _, t := range batch {
			if t.busySince.IsZero() || now.Sub(t.busySince) < r.idle {
				continue
			}
			err := fmt.Errorf("no progress for %s: %s did not return (idle timeout)", r.idle, t.busyOp)
			if r.endLocked(t, stFailed, err) {
				r.detachLocked(t)
				killed = append(killed, t)
			}
		}
		r.mu.Unlock()
		for _, t := range killed {
			r.b.log.Warn("target stalled", "transfer", r.id, "node", t.node, "error", t.err)
			r.report(t)
			t.signalPrepared()
			t.signalGone()
		}
	}
}

// detachLocked abandons the goroutine of a target stuck in a system call:
// the Send stops waiting for it, its writer slot is freed, and the buffer
// it is writing from is replaced in the ring (it is still being read by
// the kernel, so it cannot be reused). When the call returns, the
// goroutine cleans up and reports nothing.
func (r *run) detachLocked(t *target) {
	t.detached, t.reported = true, true
	r.b.detached.Add(1)
	if t.semHeld {
		<-r.sem
		t.semHeld = false
	}
	if t.inflight != nil {
		r.buffers++
		r.free = append(r.free, make([]byte, len(t.inflight.buf)))
		notify(r.wakeR)
	}
}

// emitProgress and emitResult serialise calls to the sink (a gRPC stream
// takes one sender at a time). A sink error means the caller went away:
// the Send stops and keeps its partial state.
func (r *run) emitProgress(p *sdk.TargetProgress) {
	r.sinkMu.Lock()
	err := r.sink.Progress(p)
	r.sinkMu.Unlock()
	if err != nil {
		r.stopAll(fmt.Errorf("report progress: %w", err))
	}
}

func (r *run) emitResult(res *sdk.TargetResult) {
	r.sinkMu.Lock()
	err := r.sink.Result(res)
	r.sinkMu.Unlock()
	if err != nil && r.ctx.Err() == nil {
		r.stopAll(fmt.Errorf("report result: %w", err))
	}
}

// report sends a target's result.
func (r *run) report(t *target) {
	r.mu.Lock()
	st, err, sent, reused := t.status, t.err, t.sent, t.reused
	r.mu.Unlock()
	res := &sdk.TargetResult{NodeId: t.node, BytesSent: sent, BytesReused: reused,
		ElapsedMs: uint32(r.clock.Now().Sub(t.start).Milliseconds())}
	switch st {
	case stDone:
		res.State, res.Bytes, res.Location, res.Sha256 = sdk.TargetDone, r.lay.size, t.final, r.lay.sha
	case stCancelled:
		res.State, res.Error = sdk.TargetCancelled, "cancelled"
	case stStopped:
		res.State, res.Error = sdk.TargetCancelled, fmt.Sprintf("stopped (%v); partial state kept for resume", err)
	default:
		res.State, res.Error = sdk.TargetFailed, "unknown error"
		if err != nil {
			res.Error = err.Error()
		}
	}
	r.emitResult(res)
}

func (r *run) partPath(t *target) string    { return filepath.Join(t.inbox, partial.PartName(r.id)) }
func (r *run) journalPath(t *target) string { return filepath.Join(t.inbox, partial.JournalName(r.id)) }
