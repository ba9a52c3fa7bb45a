//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// firstProgress is when the first transfer_progress of a transfer with
// bytes_done > 0 arrived at the bench (recv) and the time the daemon
// stamped on it (ts).
type firstProgress struct {
	recv, ts time.Time
}

// eventWatch is one WebSocket client of the daemon's /ws that keeps reading
// (the daemon drops clients that fall behind) and remembers, per transfer,
// the first progress event with bytes done.
type eventWatch struct {
	conn *websocket.Conn

	mu      sync.Mutex
	first   map[string]firstProgress
	err     error         // why the reader stopped
	changed chan struct{} // closed and replaced on every change
}

// dialEvents connects to /ws and returns once the daemon sent its snapshot:
// it subscribes to its event bus before it writes the snapshot, so no event
// of a transfer POSTed afterwards can be missed.
func dialEvents(ctx context.Context, baseURL string) (*eventWatch, error) {
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/ws"
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(dctx, url, http.Header{})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var snap wsMessage
	if err := conn.ReadJSON(&snap); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: first message: %w", url, err)
	}
	if snap.Type != "snapshot" {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: first message is %q, want snapshot", url, snap.Type)
	}
	_ = conn.SetReadDeadline(time.Time{})
	w := &eventWatch{conn: conn, first: map[string]firstProgress{}, changed: make(chan struct{})}
	go w.read()
	return w, nil
}

type wsMessage struct {
	Type string          `json:"type"`
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
}

func (w *eventWatch) read() {
	for {
		var m wsMessage
		err := w.conn.ReadJSON(&m)
		now := time.Now()
		if err != nil {
			w.mu.Lock()
			w.err = err
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
			return
		}
		if m.Type != "transfer_progress" {
			continue
		}
		var p struct {
			TransferID string `json:"transfer_id"`
			BytesDone  uint64 `json:"bytes_done"`
		}
		if json.Unmarshal(m.Data, &p) != nil || p.BytesDone == 0 || p.TransferID == "" {
			continue
		}
		w.mu.Lock()
		if _, seen := w.first[p.TransferID]; !seen {
			w.first[p.TransferID] = firstProgress{recv: now, ts: m.TS}
			close(w.changed)
			w.changed = make(chan struct{})
		}
		w.mu.Unlock()
	}
}

// wait returns the first progress with bytes done of transfer id, waiting
// up to timeout for it (the event may trail the HTTP answer that showed the
// transfer completed).
func (w *eventWatch) wait(ctx context.Context, id string, timeout time.Duration) (firstProgress, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		fp, ok := w.first[id]
		err, changed := w.err, w.changed
		w.mu.Unlock()
		switch {
		case ok:
			return fp, nil
		case err != nil:
			return fp, fmt.Errorf("websocket closed before a transfer_progress of %s with bytes_done > 0: %w", id, err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fp, ctx.Err()
		case <-deadline.C:
			return fp, fmt.Errorf("no transfer_progress of %s with bytes_done > 0 on /ws within %v of its end", id, timeout)
		}
	}
}

func (w *eventWatch) close() { _ = w.conn.Close() }
