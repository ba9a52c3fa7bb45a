package api

import (
	"crypto/subtle"
	"net"
	"strings"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/events"
)

// websocketRoutes serves /ws: a snapshot on connect, then every event of
// the bus as {"type","ts","data"}. A client that falls behind is dropped by
// the bus (its subscription closes) so it never holds back the others.
func (s *Server) websocketRoutes() {
	s.app.Use("/ws", func(c *fiber.Ctx) error {
		if c.Path() != "/ws" {
			return c.Next()
		}
		if !websocket.IsWebSocketUpgrade(c) {
			return fiber.NewError(fiber.StatusUpgradeRequired, "/ws is a WebSocket endpoint")
		}
		return c.Next()
	})
	// The daemon answers with WSProtocol when the client offers it (a
	// browser that sent the token as a subprotocol must get one of its
	// offers back) and never with a token protocol: the token is not
	// echoed.
	s.app.Get("/ws", websocket.New(s.serveWS, websocket.Config{Subprotocols: []string{WSProtocol}}))
}

// WSProtocol is the WebSocket subprotocol of /ws. A client that cannot send
// an Authorization header (a browser) offers
// "Sec-WebSocket-Protocol: castray.v1, castray.token.<token>"; the daemon
// checks the token and answers with "castray.v1" only.
const WSProtocol = "castray.v1"

// WSTokenProtocolPrefix starts the subprotocol that carries the API token.
const WSTokenProtocolPrefix = "castray.token."

type tokenCheck int

const (
	tokenAbsent tokenCheck = iota
	tokenValid
	tokenInvalid
)

// wsProtocolToken looks for a castray.token.<token> entry among the offered
// subprotocols (a comma-separated header value, as RFC 6455 sends them) and
// compares each one found with want in constant time. The token is accepted
// only there, never from a query string (URLs end up in logs and history).
func wsProtocolToken(header, want string) tokenCheck {
	res := tokenAbsent
	for _, p := range strings.Split(header, ",") {
		tok, ok := strings.CutPrefix(strings.TrimSpace(p), WSTokenProtocolPrefix)
		if !ok {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1 {
			return tokenValid
		}
		res = tokenInvalid
	}
	return res
}

const wsWriteTimeout = 10 * time.Second

// wsSendBuffer is the socket send buffer of a /ws connection (Linux
// reckons twice this): bounded, so that a client that stops reading
// blocks the daemon's writes after at most about 512 KiB and its backlog
// then builds up in its event buffer (events.client_buffer), which is what
// decides when it is dropped, rather than in the kernel (which lets a
// loopback send buffer grow to 4 MiB). Not smaller: with 16 KiB, every
// small frame waiting for the client's acknowledgement, the load and scale
// tests saw clients that read as fast as they could get a few events a
// second during a 10,000-event burst, and dropped.
const wsSendBuffer = 256 << 10

// tcpConn is the TCP connection under c: fasthttp hands a hijacked
// connection to the WebSocket handler wrapped in its own type (which
// offers the connection through UnsafeConn), so a type assertion on c
// alone never finds it. nil when there is none (a unix socket, a test
// pipe).
func tcpConn(c net.Conn) *net.TCPConn {
	for range 4 { // wrappers of wrappers, never a loop
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case interface{ UnsafeConn() net.Conn }:
			c = x.UnsafeConn()
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

func (s *Server) serveWS(conn *websocket.Conn) {
	sub := s.d.Bus.Subscribe(s.d.ClientBuffer)
	defer sub.Close()
	if tc := tcpConn(conn.NetConn()); tc != nil {
		_ = tc.SetWriteBuffer(wsSendBuffer)
	}
	if m := s.d.Metrics; m != nil {
		m.WSClient(1)
		defer m.WSClient(-1)
	}

	// The reader notices a client that closed or vanished.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()

	write := func(ev events.Event) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
		b, err := ev.JSON() // encoded once for every client
		return err == nil && conn.WriteMessage(websocket.TextMessage, b) == nil
	}
	snapshot := events.Event{Type: events.TypeSnapshot, TS: time.Now().UTC(), Data: map[string]any{
		"status":  s.WSStatus(),
		"plugins": s.d.Plugins.List(),
	}}
	if !write(snapshot) {
		return
	}
	for {
		select {
		case <-gone:
			return
		case ev, ok := <-sub.C():
			// Dropped by the bus (its buffer stayed full while a write was
			// blocked): close at once with 1008, without sending what the
			// buffer still holds.
			if sub.Dropped() {
				if m := s.d.Metrics; m != nil {
					m.WSDropped()
				}
				_ = conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "client too slow; events dropped"),
					time.Now().Add(wsWriteTimeout))
				return
			}
			if !ok || !write(ev) {
				return
			}
		}
	}
}
