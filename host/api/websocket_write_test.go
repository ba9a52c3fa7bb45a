package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/castray/castray/host/events"
)

// dialSubscribed dials /ws of bus and reads the snapshot, after which the
// client is subscribed.
func dialSubscribed(t *testing.T, bus *events.Bus) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.Dial(serveWS(t, bus, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // bounds a broken run only
	if _, _, err := conn.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	return conn
}

// The daemon writes /ws frames itself, several events to a write: every
// payload length class of RFC 6455 (7-bit, 16-bit, 64-bit) reaches a
// standard client as one text message each, in order, with the JSON
// json.Marshal makes of the event.
func TestWebSocketFramesOfEveryLength(t *testing.T) {
	bus := events.NewBus()
	conn := dialSubscribed(t, bus)
	sizes := []int{0, 1, 100, 125, 126, 127, 1000, 65535, 65536, 200000}
	for _, n := range sizes {
		bus.Publish("test_event", map[string]any{"pad": strings.Repeat("x", n)})
	}
	for i, n := range sizes {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("event %d (pad %d): %v", i, n, err)
		}
		if typ != websocket.TextMessage {
			t.Fatalf("event %d: message type %d, want text", i, typ)
		}
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Pad string `json:"pad"`
			} `json:"data"`
		}
		if err := json.Unmarshal(msg, &ev); err != nil {
			t.Fatalf("event %d: %v: %.100s", i, err, msg)
		}
		if ev.Type != "test_event" || len(ev.Data.Pad) != n {
			t.Fatalf("event %d: type %q, pad of %d bytes, want test_event and %d", i, ev.Type, len(ev.Data.Pad), n)
		}
	}
}

// A ping from the client is answered with a pong carrying its data, and
// events still arrive around it.
func TestWebSocketPingGetsPong(t *testing.T) {
	bus := events.NewBus()
	conn := dialSubscribed(t, bus)
	pong := make(chan string, 1)
	conn.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := conn.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The pong handler runs inside ReadMessage, and the pong may come
	// before or after any event: publish and read until it came.
	for i := range 10000 {
		select {
		case got := <-pong:
			if got != "are you there" {
				t.Fatalf("pong carries %q", got)
			}
			return
		default:
		}
		bus.Publish("test_event", map[string]any{"i": i})
		if _, msg, err := conn.ReadMessage(); err != nil || !strings.Contains(string(msg), fmt.Sprintf(`"i":%d`, i)) {
			t.Fatalf("event %d after the ping: %q %v", i, msg, err)
		}
	}
	t.Fatal("no pong after 10,000 events")
}

// A client that closes gets its close frame echoed with its code (the
// closing handshake), and the daemon lets go of its subscription.
func TestWebSocketCloseIsEchoed(t *testing.T) {
	bus := events.NewBus()
	conn := dialSubscribed(t, bus)
	if err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var err error
	for err == nil {
		_, _, err = conn.ReadMessage()
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after the client's close: %v, want its close 1001 echoed", err)
	}
	waitUnsubscribed(t, bus)
}
