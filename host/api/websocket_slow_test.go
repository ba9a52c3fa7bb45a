package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/castray/castray/host/events"
)

// A client that stops reading while events keep coming is dropped with
// close code 1008 as soon as its event buffer (events.client_buffer)
// overflows: when it reads again it finds at most what the sockets held,
// never the queued backlog, and then the close frame — not an endless
// stream, not a cut without a frame.
func TestSlowWebSocketClientGets1008(t *testing.T) {
	bus := events.NewBus()
	url := serveWS(t, bus, "")
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4 << 10}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, _, err := conn.ReadMessage(); err != nil { // the snapshot: subscribed
		t.Fatal(err)
	}
	// The client stops reading; 20 MB of events are published, far more
	// than any socket buffer holds.
	const published = 20000
	pad := strings.Repeat("x", 1000)
	for i := range published {
		bus.Publish("test_event", map[string]any{"i": i, "pad": pad})
	}
	got := 0
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second)) // bounds a broken run only
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			got++
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
			t.Fatalf("after %d events: %v, want close 1008", got, err)
		}
		break
	}
	if got >= published {
		t.Fatalf("the slow client got all %d events before the close", got)
	}
	t.Logf("%d of %d events reached the slow client before its 1008", got, published)
}
