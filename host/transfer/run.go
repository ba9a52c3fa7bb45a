package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/sdk"
)

// launch runs one attempt of a transfer in the background: each leg is one
// backend with the nodes to (re)send to; resume asks the backends to reuse
// what the targets hold.
func (s *Service) launch(id string, meta files.Meta, legs []*leg, resume bool) {
	ctx, cancel := context.WithCancelCause(context.Background())
	rn := &run{cancel: cancel, legs: legs, reasons: map[string]string{}, lastN: map[string]uint64{}}
	for _, l := range legs {
		l.ctx, l.cancel = context.WithCancelCause(ctx)
		l.last = s.o.Now()
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		cancel(errStopping)
		s.finish(id, StateInterrupted, errStopping.Error())
		return
	}
	s.runs[id] = rn
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel(nil)
		if s.o.IdleTimeout > 0 {
			stop := s.watch(ctx, rn)
			defer stop()
		}
		s.run(ctx, id, rn, meta, resume)
	}()
}

// errIdle ends a leg whose backend went silent.
type errIdle struct{ d time.Duration }

func (e errIdle) Error() string {
	return fmt.Sprintf("no progress for %s (file_transfer.timeout)", e.d)
}

// watch cancels each leg whose backend has reported nothing for longer
// than the idle timeout (one backend's progress does not keep another's
// silence alive). It checks a few times per timeout on the service's
// clock.
func (s *Service) watch(ctx context.Context, rn *run) (stop func()) {
	idle := s.o.IdleTimeout
	tick := s.o.idleTick
	if tick <= 0 {
		tick = idle / 4
	}
	t := time.NewTicker(max(tick, time.Millisecond))
	done := make(chan struct{})
	go func() {
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				var quiet []*leg
				s.mu.Lock()
				now := s.o.Now()
				for _, l := range rn.legs {
					if !l.ended && now.Sub(l.last) > idle {
						quiet = append(quiet, l)
					}
				}
				s.mu.Unlock()
				for _, l := range quiet {
					l.cancel(errIdle{idle})
				}
			}
		}
	}()
	return func() { close(done) }
}

// run drives every leg's backend in parallel and records the outcome.
func (s *Service) run(ctx context.Context, id string, rn *run, meta files.Meta, resume bool) {
	sending := map[string]bool{}
	for _, l := range rn.legs {
		for _, n := range l.nodes {
			sending[n.ID] = true
		}
	}
	s.update(id, func(r *Record) {
		r.State = StateRunning
		if r.StartedAt.IsZero() {
			r.StartedAt = s.now()
		}
		for i := range r.Targets {
			if sending[r.Targets[i].NodeID] {
				r.Targets[i].State = StateRunning
			}
		}
	}, true)
	errs := make([]error, len(rn.legs))
	var wg sync.WaitGroup
	for i, l := range rn.legs {
		wg.Go(func() {
			req := &sdk.SendRequest{
				TransferId: id,
				File: &sdk.FileSpec{Path: s.o.Sources.Path(meta.Name), Size: uint64(meta.Size), Sha256: meta.SHA256, Name: meta.Name,
					ChunkSize: uint32(meta.ChunkSize), ChunkCrc32C: meta.ChunkCRC32C},
				Mode:          l.mode,
				Resume:        resume,
				IdleTimeoutMs: uint32(min(s.o.IdleTimeout.Milliseconds(), 1<<32-1)),
			}
			for _, n := range l.nodes {
				req.Targets = append(req.Targets, s.target(n))
			}
			_, errs[i] = l.tr.Send(l.ctx, req, &sink{s: s, id: id, rn: rn, leg: l, total: uint64(meta.Size)})
			s.mu.Lock()
			l.ended = true
			s.mu.Unlock()
		})
	}
	wg.Wait()
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errStopping):
		s.finish(id, StateInterrupted, errStopping.Error())
		return
	case errors.Is(cause, errCancelled):
		s.finish(id, StateCancelled, "cancelled")
		return
	}
	// A leg that failed as a whole (its Send returned an error, or it went
	// silent) fails its own open targets; the others keep their results.
	var notes []string
	for i, l := range rn.legs {
		var msg string
		var idle errIdle
		switch lc := context.Cause(l.ctx); {
		case errors.As(lc, &idle):
			msg = idle.Error()
		case errs[i] != nil:
			msg = errs[i].Error()
		default:
			continue
		}
		if s.failOpen(id, l, msg) > 0 {
			notes = append(notes, l.backend+": "+msg)
		}
	}
	s.finish(id, "", strings.Join(notes, "; "))
}

// failOpen fails the targets of a leg that have no result yet, and returns
// how many.
func (s *Service) failOpen(id string, l *leg, msg string) int {
	now, n := s.now(), 0
	s.update(id, func(r *Record) {
		for i := range r.Targets {
			if t := &r.Targets[i]; l.ids[t.NodeID] && !t.ended() {
				t.State, t.Error, t.FinishedAt = StateFailed, msg, now
				n++
			}
		}
	}, false)
	return n
}

// finish ends the current run. With a state (cancelled, interrupted), the
// targets still open get it and msg, and so does the transfer. With state
// "", targets still open fail ("no result from the backend"), the
// transfer's state is derived from all its targets, and msg, when set,
// details its error (which backends failed and why).
func (s *Service) finish(id, state, msg string) {
	now := s.now()
	var ran []TargetRecord // the targets of this run, for OnEnd
	final := s.update(id, func(r *Record) {
		var sent map[string]bool
		if rn := s.runs[id]; rn != nil && s.o.OnEnd != nil {
			sent = map[string]bool{}
			for _, l := range rn.legs {
				for node := range l.ids {
					sent[node] = true
				}
			}
		}
		defer func() {
			for _, t := range r.Targets {
				if sent[t.NodeID] {
					ran = append(ran, t)
				}
			}
		}()
		done, failed := 0, 0
		for i := range r.Targets {
			t := &r.Targets[i]
			if !t.ended() {
				switch state {
				case StateCancelled, StateInterrupted:
					t.State, t.Error = state, msg
				default:
					t.State, t.Error = StateFailed, "no result from the backend"
				}
				t.FinishedAt = now
			}
			if t.State == StateCompleted {
				done++
			} else {
				failed++
			}
		}
		if state == "" {
			detail := msg
			switch {
			case failed == 0:
				state, msg = StateCompleted, ""
			case done == 0:
				state, msg = StateFailed, "every target failed"
			default:
				state, msg = StatePartial, fmt.Sprintf("%d of %d targets did not complete", failed, len(r.Targets))
			}
			if detail != "" && state != StateCompleted {
				msg += ": " + detail
			}
		}
		r.State, r.Error, r.FinishedAt = state, msg, now
		// Under the same lock as the final state: a Retry or Delete that
		// sees the transfer ended never finds its run still registered.
		delete(s.runs, id)
	}, true)
	if final.ID == "" { // no record (cannot happen while it runs): still unregister
		s.mu.Lock()
		delete(s.runs, id)
		s.mu.Unlock()
	}
	if s.o.OnEnd != nil && final.ID != "" {
		s.o.OnEnd(final, ran)
	}
	s.o.Emit(eventFor[final.State], final)
	s.o.Emit(events.TypeTransferActivity, map[string]any{"transfer_id": id, "state": final.State, "file_name": final.File.Name})
	s.log.Info("transfer finished", "id", id, "state", final.State, "targets", len(final.Targets))
	if final.State == StateCompleted || final.State == StateCancelled {
		s.removePartial(id) // nothing to resume: what a crash may have left goes
	}
	s.prune()
}

// update applies fn to a record under the lock, persists it when asked and
// returns a copy.
func (s *Service) update(id string, fn func(*Record), persist bool) Record {
	s.mu.Lock()
	r, ok := s.records[id]
	if !ok {
		s.mu.Unlock()
		return Record{}
	}
	fn(r)
	snapshot := cloneRecord(r)
	s.mu.Unlock()
	if persist {
		if err := s.o.Store.Put(Bucket, id, &snapshot); err != nil {
			s.log.Error("persist transfer record", "id", id, "error", err)
		}
	}
	return snapshot
}

// sink turns one leg's plugin reports into record updates and events.
// Reports about nodes that are not the leg's are ignored: a backend speaks
// for its own targets only.
type sink struct {
	s     *Service
	id    string
	rn    *run
	leg   *leg
	total uint64
}

// touch notes that the backend reported something (the idle watch).
func (k *sink) touch() {
	k.s.mu.Lock()
	k.leg.last = k.s.o.Now()
	k.s.mu.Unlock()
}

func (k *sink) Progress(p *sdk.TargetProgress) error {
	k.touch()
	if !k.leg.ids[p.GetNodeId()] {
		return nil
	}
	k.s.update(k.id, func(r *Record) {
		for i := range r.Targets {
			if r.Targets[i].NodeID == p.GetNodeId() {
				r.Targets[i].BytesDone = p.GetBytesDone()
			}
		}
	}, false)
	k.progress(p.GetNodeId(), p.GetBytesDone())
	return nil
}

// progress announces bytes done for a target, once per distinct value.
func (k *sink) progress(node string, done uint64) {
	k.s.mu.Lock()
	if last, ok := k.rn.lastN[node]; ok && last == done {
		k.s.mu.Unlock()
		return
	}
	k.rn.lastN[node] = done
	k.s.mu.Unlock()
	k.s.o.Emit(events.TypeTransferProgress, map[string]any{
		"transfer_id": k.id, "node_id": node, "backend": k.leg.backend, "bytes_done": done, "bytes_total": k.total,
	})
}

func (k *sink) Result(res *sdk.TargetResult) error {
	k.touch()
	if !k.leg.ids[res.GetNodeId()] {
		return nil
	}
	k.s.mu.Lock()
	why := k.rn.reasons[res.GetNodeId()]
	k.s.mu.Unlock()
	node := k.id
	var received *Received
	rec := k.s.update(k.id, func(r *Record) {
		for i := range r.Targets {
			t := &r.Targets[i]
			if t.NodeID != res.GetNodeId() {
				continue
			}
			node = t.NodeID
			t.BytesDone, t.Location, t.Error, t.SHA256 = res.GetBytes(), res.GetLocation(), res.GetError(), res.GetSha256()
			t.BytesSent, t.BytesReused, t.FinishedAt = res.GetBytesSent(), res.GetBytesReused(), k.s.now()
			switch res.GetState() {
			case sdk.TargetDone:
				t.State = StateCompleted
				received = &Received{NodeID: t.NodeID, Name: r.File.Name, Size: res.GetBytes(), SHA256: res.GetSha256(),
					TransferID: r.ID, ReceivedAt: t.FinishedAt, Location: t.Location}
			case sdk.TargetCancelled:
				t.State = StateCancelled
				if why != "" {
					t.Error = why
				}
			default:
				t.State = StateFailed
				if t.Error == "" {
					t.Error = "the backend reported a failure without a reason"
				}
			}
		}
	}, true)
	if received != nil {
		// Every completed target ends its progress at 100 %, however the
		// backend paced its reports.
		k.progress(node, k.total)
		if err := k.s.o.Store.Put(BucketReceived, receivedKey(received.NodeID, received.Name), received); err != nil {
			k.s.log.Error("record a received file", "transfer", rec.ID, "node", received.NodeID, "error", err)
		}
	}
	return nil
}
