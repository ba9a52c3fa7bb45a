package transfer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/castray/castray/sdk/partial"
)

// ListOptions select a page of the history.
type ListOptions struct {
	// State keeps only transfers in this state ("" = all).
	State string
	// Offset skips that many of the newest; Limit caps the page (0 = all).
	Offset, Limit int
}

// States lists every transfer state, for validating filters.
var States = []string{StatePending, StateRunning, StateCompleted, StatePartial, StateFailed, StateCancelled, StateInterrupted}

// List returns a page of the transfers, newest first, and how many match
// in all.
func (s *Service) List(o ListOptions) ([]Record, int) {
	s.mu.Lock()
	all := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		if o.State == "" || r.State == o.State {
			all = append(all, cloneRecord(r))
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.After(all[j].CreatedAt)
		}
		return all[i].ID > all[j].ID
	})
	total := len(all)
	if o.Offset >= len(all) {
		return []Record{}, total
	}
	all = all[o.Offset:]
	if o.Limit > 0 && o.Limit < len(all) {
		all = all[:o.Limit]
	}
	return all, total
}

// Delete removes the record of an ended transfer, and any partial state its
// targets kept for a retry. A running transfer is a ConflictError.
func (s *Service) Delete(id string) error {
	s.mu.Lock()
	r, ok := s.records[id]
	_, running := s.runs[id]
	switch {
	case !ok:
		s.mu.Unlock()
		return ErrNotFound
	case running || !isEnded(r.State):
		s.mu.Unlock()
		return conflict("transfer %s is %s: cancel it before deleting its record", id, r.State)
	}
	s.mu.Unlock()
	if err := s.o.Store.Delete(Bucket, id); err != nil {
		return fmt.Errorf("delete transfer record %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.records, id)
	s.mu.Unlock()
	s.removePartial(id)
	return nil
}

// prune applies the history bounds (file_transfer.history_max_age and
// history_max_records) to ended transfers, oldest first.
func (s *Service) prune() {
	if s.o.MaxAge <= 0 && s.o.MaxRecords <= 0 {
		return
	}
	s.mu.Lock()
	var ended []*Record
	for id, r := range s.records {
		if _, running := s.runs[id]; !running && isEnded(r.State) {
			ended = append(ended, r)
		}
	}
	s.mu.Unlock()
	sort.Slice(ended, func(i, j int) bool { return ended[i].CreatedAt.After(ended[j].CreatedAt) })
	cutoff := s.now().Add(-s.o.MaxAge)
	for i, r := range ended {
		old := s.o.MaxAge > 0 && r.FinishedAt.Before(cutoff)
		over := s.o.MaxRecords > 0 && i >= s.o.MaxRecords
		if !old && !over {
			continue
		}
		if err := s.Delete(r.ID); err != nil {
			s.log.Warn("prune transfer history", "id", r.ID, "error", err)
		}
	}
}

// retryable reports whether a transfer may still be retried, so that the
// partial state of its targets is worth keeping.
func (s *Service) retryable(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	if !ok {
		return false
	}
	switch r.State {
	case StateInterrupted, StateFailed, StatePartial, StatePending, StateRunning:
		return true
	}
	return false
}

// sweep removes from every inbox the partial state that belongs to no
// retryable transfer: what a crash of the daemon or of a plugin left
// behind. Nothing but sdk/partial's files is touched.
func (s *Service) sweep() {
	for _, dir := range s.inboxDirs() {
		removed, err := partial.Sweep(dir, s.retryable)
		if err != nil {
			s.log.Warn("sweep partial transfer files", "dir", dir, "error", err)
		}
		for _, p := range removed {
			s.log.Info("removed a partial transfer file left by an earlier run", "path", p)
		}
	}
}

// removePartial removes a transfer's partial state from every inbox.
func (s *Service) removePartial(id string) {
	for _, dir := range s.inboxDirs() {
		if err := partial.Remove(dir, id); err != nil {
			s.log.Warn("remove partial transfer files", "dir", dir, "id", id, "error", err)
		}
	}
}

// Received is a file a node received through a completed transfer.
type Received struct {
	NodeID     string    `json:"node_id"`
	Name       string    `json:"name"`
	Size       uint64    `json:"size"`
	SHA256     string    `json:"sha256"`
	TransferID string    `json:"transfer_id"`
	ReceivedAt time.Time `json:"received_at"`
	Location   string    `json:"location,omitempty"`
}

func receivedKey(node, name string) string { return node + "\x00" + name }

// ReceivedBy lists what a node received, by file name; the newest delivery
// of a name replaces older ones.
func (s *Service) ReceivedBy(node string) ([]Received, error) {
	prefix := receivedKey(node, "")
	var out []Received
	err := s.o.Store.List(BucketReceived, func(key string, raw []byte) error {
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		var r Received
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("received-file record %q: %w", key, err)
		}
		out = append(out, r)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// ForgetNode drops what a node received from the index (its inbox was
// purged).
func (s *Service) ForgetNode(node string) error {
	recs, err := s.ReceivedBy(node)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := s.o.Store.Delete(BucketReceived, receivedKey(node, r.Name)); err != nil {
			return err
		}
	}
	return nil
}
