package api

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/registry"
)

// A client that stops reading while events keep coming is dropped with
// close code 1008 as soon as its event buffer (events.client_buffer)
// overflows: when it reads again it finds at most what the sockets held,
// never the queued backlog, and then the close frame — not an endless
// stream, not a cut without a frame.
func TestSlowWebSocketClientGets1008(t *testing.T) {
	bus := events.NewBus()
	srv := New(Deps{Registry: registry.New(nil, nil), Plugins: wsAuthPlugins{}, Bus: bus, Log: hclog.NewNullLogger(),
		BodyLimit: 1 << 10, ClientBuffer: 8, Version: "test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(5 * time.Second)
		<-done
	})
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4 << 10}
	conn, _, err := d.Dial("ws://"+ln.Addr().String()+"/ws", nil)
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
