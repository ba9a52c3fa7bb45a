package plugintest

import (
	"sync"

	"github.com/castray/castray/sdk"
)

// Sink is a DiscoverSink that records what a Discover call reports, in
// arrival order. Like every DiscoverSink it is safe for concurrent use, so
// it can also be handed straight to an implementation's Discover. The zero
// value is ready to use.
type Sink struct {
	mu         sync.Mutex
	candidates []*sdk.ClusterCandidate
	notes      []*sdk.DiscoverNote
}

// Candidate records c.
func (s *Sink) Candidate(c *sdk.ClusterCandidate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.candidates = append(s.candidates, c)
	return nil
}

// Note records n.
func (s *Sink) Note(n *sdk.DiscoverNote) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = append(s.notes, n)
	return nil
}

// Candidates returns the candidates recorded so far.
func (s *Sink) Candidates() []*sdk.ClusterCandidate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*sdk.ClusterCandidate(nil), s.candidates...)
}

// Notes returns the notes recorded so far.
func (s *Sink) Notes() []*sdk.DiscoverNote {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*sdk.DiscoverNote(nil), s.notes...)
}
