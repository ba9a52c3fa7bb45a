package plugintest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

// fanOut calls its sink from many goroutines at once, with no locking of
// its own, as DiscoverSink allows.
type fanOut struct {
	goroutines, each int
}

func (*fanOut) Info(context.Context) (*sdk.PluginInfo, error) {
	return &sdk.PluginInfo{Name: "fan", Kind: sdk.KindDiscovery, ApiVersions: []uint32{sdk.APIVersion}}, nil
}

func (*fanOut) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
	return &sdk.ConfigSchema{}, nil
}

func (*fanOut) Configure(context.Context, *sdk.ConfigureRequest) ([]*sdk.ConfigError, error) {
	return nil, nil
}

func (f *fanOut) Discover(ctx context.Context, _ *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	var start, wg sync.WaitGroup
	start.Add(1)
	errs := make(chan error, f.goroutines)
	for g := range f.goroutines {
		wg.Go(func() {
			start.Wait() // all at once
			for i := range f.each {
				id := fmt.Sprintf("%d-%d", g, i)
				if err := sink.Candidate(&sdk.ClusterCandidate{Source: "fan", SessionName: "session_" + id, NodeCount: int32(i),
					Attributes: map[string]string{"id": id}, Evidence: []string{"goroutine " + id}}); err != nil {
					errs <- err
					return
				}
				if err := sink.Note(&sdk.DiscoverNote{Level: "info", Message: "note " + id, Target: id}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	start.Done()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return &sdk.DiscoverSummary{Candidates: uint32(f.goroutines * f.each)}, nil
}

// Many goroutines of a plugin report at once through the real gRPC path
// (run with -race): everything arrives, intact and once. Unserialised
// Sends used to wedge the stream; the guard turns that hang into a failure
// long after a healthy call (well under a second) is done.
func TestDiscoverSinkConcurrentOverGRPC(t *testing.T) {
	const goroutines, each = 32, 50
	client := plugintest.Discovery(t, &fanOut{goroutines: goroutines, each: each})
	var got plugintest.Sink
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := client.Discover(ctx, &sdk.DiscoverRequest{}, &got)
	if err != nil {
		t.Fatalf("Discover: %v (after %d candidates)", err, len(got.Candidates()))
	}
	if sum.GetCandidates() != goroutines*each {
		t.Errorf("summary %v", sum)
	}
	seen := map[string]bool{}
	for _, c := range got.Candidates() {
		id := c.GetAttributes()["id"]
		if c.GetSessionName() != "session_"+id || len(c.GetEvidence()) != 1 || c.GetEvidence()[0] != "goroutine "+id || seen[id] {
			t.Fatalf("candidate %v (duplicate: %v)", c, seen[id])
		}
		seen[id] = true
	}
	notes := map[string]bool{}
	for _, n := range got.Notes() {
		if n.GetMessage() != "note "+n.GetTarget() || notes[n.GetTarget()] {
			t.Fatalf("note %v", n)
		}
		notes[n.GetTarget()] = true
	}
	if len(seen) != goroutines*each || len(notes) != goroutines*each {
		t.Fatalf("%d candidates and %d notes arrived, want %d of each", len(seen), len(notes), goroutines*each)
	}
}
