package distribution

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/transfer"
)

// waitingPrefix starts the note of a pending node that is not active.
const waitingPrefix = "waiting for the node to be active: it is "

// subscriberBuffer is the event buffer of the service's subscription.
const subscriberBuffer = 1024

// Start subscribes to the bus (when there is one), reconciles once and
// keeps reconciling on node and transfer events and on every tick until
// Stop. Calling it again does nothing.
func (s *Service) Start() {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.mu.Unlock()
	var sub *events.Subscription
	if s.o.Bus != nil {
		sub = s.o.Bus.Subscribe(subscriberBuffer)
	}
	ticks := s.o.Ticks
	var ticker *time.Ticker
	if ticks == nil {
		ticker = time.NewTicker(s.o.Interval)
		ticks = ticker.C
	}
	go s.loop(sub, ticks, ticker)
}

// Stop ends the loop Start began and waits for it (a reconcile under way
// finishes first). Transfers already started go on.
func (s *Service) Stop() {
	s.mu.Lock()
	started, stop, done := s.started, s.stop, s.done
	s.started = false
	s.mu.Unlock()
	if !started {
		return
	}
	close(stop)
	<-done
}

func (s *Service) loop(sub *events.Subscription, ticks <-chan time.Time, ticker *time.Ticker) {
	defer close(s.done)
	if ticker != nil {
		defer ticker.Stop()
	}
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	s.Reconcile()
	for {
		var evc <-chan events.Event
		if sub != nil {
			evc = sub.C()
		}
		select {
		case <-s.stop:
			return
		case <-ticks:
			s.Reconcile()
		case ev, ok := <-evc:
			dirty := false
			// Take the whole burst (a cluster sync emits many events at
			// once) and reconcile once for all of it.
		drain:
			for {
				if !ok {
					// Fell behind and was dropped: subscribe again and
					// rebuild from the registry, which is the truth.
					s.log.Warn("event subscription dropped; subscribing again")
					sub.Close()
					sub = s.o.Bus.Subscribe(subscriberBuffer)
					dirty = true
					break
				}
				dirty = s.handle(ev) || dirty
				select {
				case ev, ok = <-sub.C():
				default:
					break drain
				}
			}
			if dirty {
				s.Reconcile()
			}
		}
	}
}

// handle notes what an event means for the distributions and reports
// whether a reconcile is due.
func (s *Service) handle(ev events.Event) bool {
	switch ev.Type {
	case events.TypeNodeRemoved:
		if n, ok := ev.Data.(registry.Node); ok {
			s.mu.Lock()
			s.removed[n.ID] = true
			s.mu.Unlock()
		}
		return true
	case events.TypeNodeAdded, events.TypeNodeUpdated, events.TypeNodeDead,
		events.TypeTransferCompleted, events.TypeTransferPartial, events.TypeTransferFailed,
		events.TypeTransferCancelled, events.TypeTransferInterrupted:
		return true
	}
	return false
}

// Reconcile brings every distribution up to date: it follows the
// transfers under way, adds the nodes that match now, and starts one
// transfer per distribution for the nodes that are due (matching, active,
// and pending, or failed with their retry time passed). Changed
// distributions are saved and published.
func (s *Service) Reconcile() {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	s.mu.Lock()
	work := make([]Distribution, 0, len(s.dists))
	for _, d := range s.dists {
		work = append(work, d.clone())
	}
	removed := s.removed
	s.removed = map[string]bool{}
	s.mu.Unlock()
	if len(work) == 0 {
		return
	}
	sort.Slice(work, func(i, j int) bool { return work[i].ID < work[j].ID })

	r := &round{s: s, now: s.now(), removed: removed, records: map[string]recordResult{}, nodes: map[string]registry.Node{}}
	for _, n := range s.o.Nodes.List(registry.Filter{}) {
		r.nodes[n.ID] = n
	}
	var changed []Distribution
	for i := range work {
		if r.step(&work[i]) {
			changed = append(changed, work[i])
		}
	}
	var emit []Distribution
	s.mu.Lock()
	for i := range changed {
		d := &changed[i]
		if _, ok := s.dists[d.ID]; !ok {
			continue // deleted meanwhile
		}
		stored := d.clone()
		if err := s.save(&stored); err != nil {
			s.log.Error("save distribution", "id", d.ID, "error", err)
		}
		s.dists[d.ID] = &stored
		emit = append(emit, stored.clone())
	}
	s.mu.Unlock()
	for _, d := range emit {
		s.emit(d)
	}
}

type recordResult struct {
	rec transfer.Record
	err error
}

// round is one reconcile: the registry and the transfer records as read
// once for all distributions.
type round struct {
	s       *Service
	now     time.Time
	nodes   map[string]registry.Node
	removed map[string]bool
	records map[string]recordResult
}

func (r *round) record(id string) (transfer.Record, error) {
	if got, ok := r.records[id]; ok {
		return got.rec, got.err
	}
	rec, err := r.s.o.Transfers.Get(id)
	r.records[id] = recordResult{rec, err}
	return rec, err
}

func (r *round) fail(e *NodeStatus, reason string) {
	e.Status = StatusFailed
	e.Error = reason
	e.SHA256, e.Location = "", ""
	e.Failures++
	e.NextRetryAt = r.now.Add(r.s.backoff(e.Failures))
}

func toPending(e *NodeStatus, why string) {
	*e = NodeStatus{NodeID: e.NodeID, Status: StatusPending, NodeState: e.NodeState, TransferID: e.TransferID,
		Attempts: e.Attempts, Error: why, UpdatedAt: e.UpdatedAt}
}

// follow updates an entry from the record of its transfer.
func (r *round) follow(e *NodeStatus, fileSHA string, fileErr error) {
	rec, err := r.record(e.TransferID)
	if err != nil {
		if e.Status == StatusDelivering {
			if errors.Is(err, transfer.ErrNotFound) {
				r.fail(e, fmt.Sprintf("transfer %s: its record is gone (deleted?)", e.TransferID))
			} else {
				r.fail(e, fmt.Sprintf("transfer %s: %v", e.TransferID, err))
			}
		}
		return
	}
	var t *transfer.TargetRecord
	for i := range rec.Targets {
		if rec.Targets[i].NodeID == e.NodeID {
			t = &rec.Targets[i]
		}
	}
	if t == nil {
		if e.Status == StatusDelivering {
			r.fail(e, fmt.Sprintf("transfer %s does not target this node", e.TransferID))
		}
		return
	}
	switch t.State {
	case transfer.StatePending, transfer.StateRunning:
		// Under way (again: the transfer service may have resumed an
		// interrupted one after a restart).
		if e.Status != StatusDelivering {
			e.Status, e.Error, e.NextRetryAt = StatusDelivering, "", time.Time{}
		}
	case transfer.StateCompleted:
		switch {
		case fileErr == nil && t.SHA256 == fileSHA:
			e.Status, e.SHA256, e.Location, e.Error = StatusPresent, t.SHA256, t.Location, ""
			e.Failures, e.NextRetryAt = 0, time.Time{}
			e.DeliveredAt = t.FinishedAt
			if e.DeliveredAt.IsZero() {
				e.DeliveredAt = r.now
			}
		case fileErr == nil && t.SHA256 == rec.File.SHA256:
			// The upload changed while it was sent: send the new one.
			if e.Status == StatusDelivering {
				toPending(e, "the file changed in the upload store since this delivery")
			}
		case fileErr != nil:
			// Cannot verify against a file that is gone; the file error
			// is the distribution's.
			if e.Status == StatusDelivering {
				toPending(e, "")
			}
		default:
			if e.Status == StatusDelivering {
				r.fail(e, fmt.Sprintf("transfer %s: verified sha256 %q differs from the file's %s", e.TransferID, t.SHA256, fileSHA))
			}
		}
	default: // failed, cancelled, interrupted
		if e.Status == StatusDelivering {
			reason := t.Error
			if reason == "" {
				reason = rec.Error
			}
			if reason == "" {
				reason = "ended " + t.State
			}
			r.fail(e, fmt.Sprintf("transfer %s %s: %s", e.TransferID, t.State, reason))
		}
	}
}

// step reconciles one distribution and reports whether it changed.
func (r *round) step(d *Distribution) bool {
	before := map[string]NodeStatus{}
	entries := map[string]*NodeStatus{}
	for _, n := range d.Nodes {
		before[n.NodeID] = n
		e := n
		entries[n.NodeID] = &e
	}
	oldSHA, oldErr := d.SHA256, d.Error

	meta, fileErr := r.s.o.Files.Stat(d.FileName)
	switch {
	case fileErr == nil:
		d.SHA256, d.Error = meta.SHA256, ""
	case errors.Is(fileErr, files.ErrNotFound):
		d.Error = fmt.Sprintf("file %q is no longer in the upload store: upload it again to resume this distribution", d.FileName)
	default:
		d.Error = fmt.Sprintf("file %q: %v", d.FileName, fileErr)
	}

	// 1. Transfers under way, and failed ones the transfer service may
	// have resumed since.
	for _, e := range entries {
		if e.TransferID != "" && (e.Status == StatusDelivering || e.Status == StatusFailed) {
			r.follow(e, meta.SHA256, fileErr)
		}
	}

	// 2. The nodes that match now.
	matched := map[string]bool{}
	for id, n := range r.nodes {
		if !d.Selector.Match(n) {
			continue
		}
		matched[id] = true
		e := entries[id]
		if e == nil {
			e = &NodeStatus{NodeID: id, Status: StatusPending}
			entries[id] = e
		}
		cameBack := e.leftLive || r.removed[id]
		e.NodeState, e.leftLive = string(n.State), false
		if e.Status == StatusPresent {
			switch {
			case cameBack:
				toPending(e, "the node left and joined again: delivering again")
			case fileErr == nil && e.SHA256 != meta.SHA256:
				toPending(e, "the file changed in the upload store")
			}
		}
		if e.Status == StatusPending {
			if n.State != registry.StateActive {
				e.Error = fmt.Sprintf("%s%s", waitingPrefix, n.State)
			} else if strings.HasPrefix(e.Error, waitingPrefix) {
				e.Error = ""
			}
		}
	}

	// 3. Entries of nodes that left or no longer match: kept while the
	// file is on them or on its way, dropped otherwise.
	for id, e := range entries {
		if matched[id] {
			continue
		}
		if n, ok := r.nodes[id]; ok {
			e.NodeState = string(n.State)
		} else {
			e.NodeState = NodeStateRemoved
			e.leftLive = e.leftLive || r.removed[id]
		}
		if e.Status == StatusPending || e.Status == StatusFailed {
			delete(entries, id)
		}
	}

	// 4. Deliver to the nodes that are due.
	var due []string
	for id, e := range entries {
		if !matched[id] || e.NodeState != string(registry.StateActive) {
			continue
		}
		if e.Status == StatusPending || (e.Status == StatusFailed && !r.now.Before(e.NextRetryAt)) {
			due = append(due, id)
		}
	}
	sort.Strings(due)
	if len(due) > 0 {
		if fileErr != nil {
			for _, id := range due {
				r.fail(entries[id], d.Error)
			}
		} else {
			r.deliver(d, entries, due)
		}
	}

	// Assemble, stamp what changed.
	changed := d.SHA256 != oldSHA || d.Error != oldErr || len(entries) != len(before)
	d.Nodes = d.Nodes[:0]
	for id, e := range entries {
		old, had := before[id]
		a, b := old, *e
		a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
		if !had || a != b {
			e.UpdatedAt = r.now
			changed = true
		}
		d.Nodes = append(d.Nodes, *e)
	}
	sort.Slice(d.Nodes, func(i, j int) bool { return d.Nodes[i].NodeID < d.Nodes[j].NodeID })
	d.summarise()
	if changed {
		d.UpdatedAt = r.now
	}
	return changed
}

// deliver starts one multicast transfer to the due nodes; when the
// transfer service refuses it, each node is tried alone so that one bad
// target (a kind no backend serves, a node that just went away) fails only
// itself.
func (r *round) deliver(d *Distribution, entries map[string]*NodeStatus, due []string) {
	start := func(ids []string) error {
		rec, err := r.s.o.Transfers.Start(transfer.Request{FileName: d.FileName, Mode: "multicast", Targets: ids})
		if err != nil {
			return err
		}
		for _, id := range ids {
			e := entries[id]
			e.Status, e.TransferID, e.Error = StatusDelivering, rec.ID, ""
			e.SHA256, e.Location, e.NextRetryAt = "", "", time.Time{}
			e.Attempts++
		}
		r.records[rec.ID] = recordResult{rec: rec}
		r.s.log.Info("distribution delivering", "id", d.ID, "file", d.FileName, "transfer", rec.ID, "nodes", len(ids))
		return nil
	}
	err := start(due)
	if err == nil {
		return
	}
	if len(due) > 1 {
		for _, id := range due {
			if err := start([]string{id}); err != nil {
				r.fail(entries[id], "start transfer: "+err.Error())
			}
		}
		return
	}
	r.fail(entries[due[0]], "start transfer: "+err.Error())
}
