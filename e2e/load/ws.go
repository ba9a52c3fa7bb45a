//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
)

// wsClient is one /ws client. A reading client reads every message as it
// comes and keeps, for each event stamped after the load started, its
// delivery latency (arrival here minus the daemon's "ts"). The slow client
// stops reading while paused.
type wsClient struct {
	id   int
	conn *websocket.Conn

	since  time.Time    // events stamped at or after this count
	counts atomic.Int64 // events stamped at or after since
	total  atomic.Int64 // every event after the snapshot
	lat    []int32      // delivery latency, µs; owned by the reader until done

	pause  chan chan struct{} // the slow client: a request to stop reading until the inner channel closes
	done   chan struct{}      // closed when the reader returned
	err    error              // why it returned (read after done)
	closed atomic.Bool        // we closed it on purpose
}

// dialWS opens one /ws client the way the web UI does: subprotocol
// castray.v1 (plus castray.token.<token> when the daemon has one) and the
// daemon's own Origin. rcvBuf > 0 sets the client's socket receive buffer
// (the slow client keeps it small so that its backlog builds up in the
// daemon's event buffer, not in the kernel).
func dialWS(ctx context.Context, d *daemon, id, rcvBuf int) (*wsClient, error) {
	dialer := websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		Subprotocols:     []string{"castray.v1"},
		ReadBufferSize:   4 << 10,
		WriteBufferSize:  1 << 10,
	}
	if d.token != "" {
		dialer.Subprotocols = append(dialer.Subprotocols, "castray.token."+d.token)
	}
	if rcvBuf > 0 {
		dialer.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				var serr error
				err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
				})
				return errors.Join(err, serr)
			}}
			return nd.DialContext(ctx, network, addr)
		}
	}
	hdr := http.Header{"Origin": []string{d.url}}
	url := fmt.Sprintf("ws://127.0.0.1:%d/ws", d.port)
	conn, resp, err := dialer.DialContext(ctx, url, hdr)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial /ws: %w (HTTP %s)", err, resp.Status)
		}
		return nil, fmt.Errorf("dial /ws: %w", err)
	}
	if p := conn.Subprotocol(); p != "castray.v1" {
		_ = conn.Close()
		return nil, fmt.Errorf("/ws answered subprotocol %q, want castray.v1", p)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("/ws first message: %w", err)
	}
	if typ, _ := eventHead(msg); typ != "snapshot" {
		_ = conn.Close()
		return nil, fmt.Errorf("/ws first message is %q, want snapshot", typ)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return &wsClient{id: id, conn: conn, pause: make(chan chan struct{}, 1), done: make(chan struct{})}, nil
}

// eventHead reads the type and ts of an event message without decoding it
// all ({"type":"...","ts":"...","data":...}, as the daemon writes it).
func eventHead(msg []byte) (string, time.Time) {
	typ := field(msg, `"type":"`)
	ts, _ := time.Parse(time.RFC3339Nano, field(msg, `"ts":"`))
	return typ, ts
}

func field(msg []byte, key string) string {
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return ""
	}
	rest := msg[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// read runs until the connection ends. Latencies are kept for events
// stamped at or after since.
func (c *wsClient) read(since time.Time) {
	defer close(c.done)
	c.since = since
	var buf bytes.Buffer // reused: a thousand readers allocating each message kept the GC busy
	for {
		select {
		case resume := <-c.pause:
			<-resume
		default:
		}
		msg, err := c.readMessage(&buf)
		now := time.Now()
		if err != nil {
			c.err = err
			return
		}
		c.total.Add(1)
		_, ts := eventHead(msg)
		if ts.IsZero() || ts.Before(since) {
			continue
		}
		c.counts.Add(1)
		c.lat = append(c.lat, int32(min(now.Sub(ts), time.Hour)/time.Microsecond))
	}
}

// readMessage reads the next message into buf (ReadMessage, without a new
// buffer for each message); the bytes are buf's until the next call.
func (c *wsClient) readMessage(buf *bytes.Buffer) ([]byte, error) {
	_, r, err := c.conn.NextReader()
	if err != nil {
		return nil, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(r)
	return buf.Bytes(), err
}

// closeCode is the close code the daemon sent, 0 when the connection ended
// without a close frame.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func (c *wsClient) close() {
	c.closed.Store(true)
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.conn.Close()
}

// dialAll opens n reading clients, par at a time.
func dialAll(ctx context.Context, d *daemon, n, par int) ([]*wsClient, error) {
	clients := make([]*wsClient, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	sem := make(chan struct{}, par)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialWS(ctx, d, i, 0)
			if err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		for _, c := range clients {
			if c != nil {
				c.close()
			}
		}
		return nil, fmt.Errorf("%d of %d /ws clients failed to connect; first: %s", len(errs), n, strings.Join(errs[:min(3, len(errs))], "; "))
	}
	return clients, nil
}
