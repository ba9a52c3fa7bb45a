package sdk

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	castrayv1 "github.com/castray/castray/sdk/proto/castray/v1"
)

// fakeStream is the server side of a Discover stream. It records the events
// sent, notices two Sends at once (which a gRPC stream does not allow) and
// fails from the failAt-th Send on, when failAt > 0.
type fakeStream struct {
	grpc.ServerStream
	failAt   int
	inFlight atomic.Int32
	overlap  atomic.Bool

	mu   sync.Mutex
	sent []*castrayv1.DiscoverEvent
}

var errStreamBroken = errors.New("stream broken")

func (f *fakeStream) Context() context.Context { return context.Background() }

func (f *fakeStream) Send(ev *castrayv1.DiscoverEvent) error {
	if f.inFlight.Add(1) > 1 {
		f.overlap.Store(true)
	}
	defer f.inFlight.Add(-1)
	// Stay inside Send a while, so that an unserialised caller would be
	// caught here; no clock is involved.
	for range 50 {
		runtime.Gosched()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAt > 0 && len(f.sent)+1 >= f.failAt {
		return errStreamBroken
	}
	f.sent = append(f.sent, ev)
	return nil
}

func (f *fakeStream) events() []*castrayv1.DiscoverEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*castrayv1.DiscoverEvent(nil), f.sent...)
}

func TestStreamDiscoverSinkSerialisesSends(t *testing.T) {
	stream := &fakeStream{}
	sink := &streamDiscoverSink{stream: stream}
	const goroutines, each = 16, 20
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if err := sink.Candidate(&ClusterCandidate{Source: "x"}); err != nil {
					t.Error(err)
				}
				if err := sink.Note(&DiscoverNote{Message: "n"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if stream.overlap.Load() {
		t.Error("two Sends ran at once on one stream")
	}
	if n := len(stream.events()); n != 2*goroutines*each {
		t.Errorf("%d events sent, want %d", n, 2*goroutines*each)
	}
}

// leaky reports from a goroutine that outlives its Discover call.
type leaky struct {
	Discoverer
	late    chan struct{}
	lateErr chan error
}

func (l *leaky) Discover(_ context.Context, _ *DiscoverRequest, sink DiscoverSink) (*DiscoverSummary, error) {
	go func() {
		<-l.late
		l.lateErr <- sink.Candidate(&ClusterCandidate{Source: "late"})
	}()
	for range 3 {
		if err := sink.Candidate(&ClusterCandidate{Source: "on time"}); err != nil {
			return nil, err
		}
	}
	return &DiscoverSummary{Candidates: 3}, nil
}

func TestStreamDiscoverSinkAfterDiscoverReturned(t *testing.T) {
	impl := &leaky{late: make(chan struct{}), lateErr: make(chan error, 1)}
	stream := &fakeStream{}
	if err := (&discoveryServer{impl: impl}).Discover(&castrayv1.DiscoverRequest{}, stream); err != nil {
		t.Fatal(err)
	}
	close(impl.late)
	if err := <-impl.lateErr; !errors.Is(err, errDiscoverReturned) {
		t.Errorf("late Candidate: err = %v, want errDiscoverReturned", err)
	}
	evs := stream.events()
	if len(evs) != 4 || evs[3].GetSummary().GetCandidates() != 3 {
		t.Errorf("events %v: want 3 candidates, then the summary, and nothing after it", evs)
	}
}

func TestStreamDiscoverSinkKeepsItsFirstError(t *testing.T) {
	stream := &fakeStream{failAt: 2}
	sink := &streamDiscoverSink{stream: stream}
	if err := sink.Candidate(&ClusterCandidate{}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := sink.Note(&DiscoverNote{}); !errors.Is(err, errStreamBroken) {
			t.Fatalf("err = %v, want the stream's error", err)
		}
	}
	if err := sink.close(&castrayv1.DiscoverEvent{}); !errors.Is(err, errStreamBroken) {
		t.Errorf("close: err = %v, want the stream's error", err)
	}
	if n := len(stream.events()); n != 1 {
		t.Errorf("%d events sent, want 1", n)
	}
}
