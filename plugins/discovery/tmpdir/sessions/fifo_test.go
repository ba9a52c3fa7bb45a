//go:build unix

package sessions

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFIFOsDoNotBlock: a FIFO named like a Ray file is refused at once, not read.
func TestFIFOsDoNotBlock(t *testing.T) {
	f := newFixture(t)
	sess := filepath.Join(f.root, f.corrupt)
	for _, p := range []string{
		filepath.Join(f.windows, "ray_current_cluster"),
		filepath.Join(sess, "logs", "dashboard.log"),
		filepath.Join(sess, "gcs_server_port_"+liveHeadNode+"x"), // not a port file name: never opened
	} {
		must(t, syscall.Mkfifo(p, 0o644))
	}
	must(t, os.Remove(filepath.Join(sess, "logs", "gcs_server.out")))
	must(t, syscall.Mkfifo(filepath.Join(sess, "logs", "gcs_server.out"), 0o644))
	d := serve(t, f.options(t, &fakeProcs{}, &fakePorts{}), f.config())
	done := make(chan struct{})
	var sink *collectSink
	go func() {
		defer close(done)
		sink, _ = discover(t, d, nil)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Discover blocked on a FIFO")
	}
	for _, sub := range []string{"ray_current_cluster", "logs/dashboard.log", "logs/gcs_server.out"} {
		if n := sink.notesAbout(sub); len(n) == 0 {
			t.Errorf("no note about FIFO %s: %v", sub, sink.Notes())
		}
	}
	if c := sink.bySession(winSession); c == nil {
		t.Error("the Windows session was lost")
	}
}
