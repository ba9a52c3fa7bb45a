package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk"
)

// launch runs one attempt of a transfer in the background: targets are the
// nodes to (re)send to, resume asks the backend to reuse what they hold.
func (s *Service) launch(id string, tr sdk.Transferer, meta files.Meta, targets []registry.Node, resume bool) {
	ctx, cancel := context.WithCancelCause(context.Background())
	rn := &run{cancel: cancel, tr: tr, reasons: map[string]string{}, last: s.o.Now(), lastN: map[string]uint64{}}
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
		s.run(ctx, id, rn, meta, targets, resume)
	}()
}

// errIdle ends a run whose backend went silent.
type errIdle struct{ d time.Duration }

func (e errIdle) Error() string {
	return fmt.Sprintf("no progress for %s (file_transfer.timeout)", e.d)
}

// watch cancels the run when the backend has reported nothing for longer
// than the idle timeout. It checks a few times per timeout on the
// service's clock.
func (s *Service) watch(ctx context.Context, rn *run) (stop func()) {
	idle := s.o.IdleTimeout
	t := time.NewTicker(max(idle/4, time.Millisecond))
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
				s.mu.Lock()
				quiet := s.o.Now().Sub(rn.last)
				s.mu.Unlock()
				if quiet > idle {
					rn.cancel(errIdle{idle})
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

// run drives the backend and records the outcome.
func (s *Service) run(ctx context.Context, id string, rn *run, meta files.Meta, targets []registry.Node, resume bool) {
	sending := map[string]bool{}
	for _, n := range targets {
		sending[n.ID] = true
	}
	rec := s.update(id, func(r *Record) {
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
	req := &sdk.SendRequest{
		TransferId: id,
		File: &sdk.FileSpec{Path: s.o.Sources.Path(meta.Name), Size: uint64(meta.Size), Sha256: meta.SHA256, Name: meta.Name,
			ChunkSize: uint32(meta.ChunkSize), ChunkCrc32C: meta.ChunkCRC32C},
		Resume:        resume,
		IdleTimeoutMs: uint32(min(s.o.IdleTimeout.Milliseconds(), 1<<32-1)),
	}
	switch rec.Mode {
	case "unicast":
		req.Mode = sdk.Unicast
	case "multicast":
		req.Mode = sdk.Multicast
	default:
		req.Mode = sdk.Broadcast
	}
	for _, n := range targets {
		attrs := map[string]string{}
		if n.InboxDir != "" {
			attrs["inbox_dir"] = n.InboxDir
		}
		req.Targets = append(req.Targets, &sdk.Target{NodeId: n.ID, Kind: string(n.Kind), Address: n.Address, Attributes: attrs})
	}
	_, err := rn.tr.Send(ctx, req, &sink{s: s, id: id, rn: rn, total: uint64(meta.Size)})
	cause := context.Cause(ctx)
	var idle errIdle
	switch {
	case errors.Is(cause, errStopping):
		s.finish(id, StateInterrupted, errStopping.Error())
	case errors.Is(cause, errCancelled):
		s.finish(id, StateCancelled, "cancelled")
	case errors.As(cause, &idle):
		s.finish(id, StateFailed, idle.Error())
	case err != nil:
		s.finish(id, StateFailed, err.Error())
	default:
		s.finish(id, "", "")
	}
}

// finish ends the current run: targets still open get state (or, with
// state "", fail with msg), and the transfer's state is derived from all its
// targets unless state names it.
func (s *Service) finish(id, state, msg string) {
	now := s.now()
	final := s.update(id, func(r *Record) {
		done, failed := 0, 0
		for i := range r.Targets {
			t := &r.Targets[i]
			if !t.ended() {
				switch state {
				case StateCancelled, StateInterrupted:
					t.State, t.Error = state, msg
				default:
					t.State, t.Error = StateFailed, firstNonEmpty(msg, "no result from the backend")
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
			switch {
			case failed == 0:
				state = StateCompleted
			case done == 0:
				state, msg = StateFailed, "every target failed"
			default:
				state, msg = StatePartial, fmt.Sprintf("%d of %d targets did not complete", failed, len(r.Targets))
			}
		}
		r.State, r.Error, r.FinishedAt = state, msg, now
	}, true)
	s.mu.Lock()
	delete(s.runs, id)
	s.mu.Unlock()
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

// sink turns plugin reports into record updates and events.
type sink struct {
	s     *Service
	id    string
	rn    *run
	total uint64
}

// touch notes that the backend reported something (the idle watch).
func (k *sink) touch() {
	k.s.mu.Lock()
	k.rn.last = k.s.o.Now()
	k.s.mu.Unlock()
}

func (k *sink) Progress(p *sdk.TargetProgress) error {
	k.touch()
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
		"transfer_id": k.id, "node_id": node, "bytes_done": done, "bytes_total": k.total,
	})
}

func (k *sink) Result(res *sdk.TargetResult) error {
	k.touch()
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

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
