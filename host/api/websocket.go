package api

import (
	"crypto/subtle"
	"encoding/binary"
	"net"
	"strings"
	"sync"
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
	w := &wsWriter{nc: conn.NetConn()}
	// Pongs and the echo of a client's close frame go through w too, so
	// that no two writers share the socket (the library's own handlers
	// would write behind w's back, and move its write deadline).
	conn.SetPingHandler(func(data string) error {
		_ = w.control(websocket.PongMessage, []byte(data), time.Second)
		return nil
	})
	conn.SetCloseHandler(func(code int, _ string) error {
		_ = w.control(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Second)
		return nil
	})

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

	snapshot := events.Event{Type: events.TypeSnapshot, TS: time.Now().UTC(), Data: map[string]any{
		"status":  s.WSStatus(),
		"plugins": s.d.Plugins.List(),
	}}
	b, err := snapshot.JSON()
	if err != nil || w.events(appendWSFrame(nil, websocket.TextMessage, b)) != nil {
		return
	}
	for {
		var ev events.Event
		var ok bool
		select {
		case <-gone:
			return
		case ev, ok = <-sub.C():
		}
		// Every event already waiting joins this one in a single write (a
		// burst, or a client behind, costs one system call, not one per
		// event); each is still its own message.
		batch := w.take()
		for {
			// Dropped by the bus (its buffer stayed full while a write was
			// blocked): close at once with 1008, without sending what the
			// buffer still holds nor this batch.
			if sub.Dropped() {
				w.put(batch)
				if m := s.d.Metrics; m != nil {
					m.WSDropped()
				}
				// Its socket may be full: the frame waits as long as an
				// event would for the client to read again.
				_ = w.control(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "client too slow; events dropped"), wsWriteTimeout)
				return
			}
			if !ok {
				break
			}
			b, err := ev.JSON() // encoded once for every client
			if err != nil {
				ok = false
				break
			}
			batch = appendWSFrame(batch, websocket.TextMessage, b)
			if len(batch) >= wsBatchBytes {
				break
			}
			select {
			case ev, ok = <-sub.C():
				continue
			default:
			}
			break
		}
		err := w.events(batch)
		w.put(batch)
		if err != nil || !ok {
			return
		}
	}
}

// wsBatchBytes bounds what one write gathers of the events waiting for a
// client: one more event is not taken once this much is gathered. Small:
// the writer takes no event from the client's buffer until its write is
// done, and the bus drops a client whose buffer stays full for the grace
// period (one load test run with 64 KiB writes dropped 140 of 1,000
// reading clients during its broadcasts of 4 KiB events; with 8 KiB, two
// runs dropped none).
const wsBatchBytes = 8 << 10

// wsWriter writes the frames of one /ws connection to its socket itself,
// so that it can send several events in one write: the WebSocket library
// (which upgrades the connection and reads it) writes one frame per call.
// Frames from a server are not masked and this server negotiates no
// extension, so a frame is its header and the payload as is (RFC 6455
// 5.2). Each write holds mu, sets its own deadline and is a single Write
// of whole frames, so frames never interleave.
type wsWriter struct {
	nc  net.Conn
	mu  sync.Mutex
	buf []byte // kept between writes; see take and put
}

// take returns an empty buffer for a batch of frames.
func (w *wsWriter) take() []byte {
	b := w.buf
	w.buf = nil
	return b[:0]
}

// put keeps b for the next batch unless it grew large (one large event; a
// thousand idle clients should not each keep it).
func (w *wsWriter) put(b []byte) {
	if cap(b) <= 2*wsBatchBytes {
		w.buf = b
	}
}

// events writes frames of events, allowed wsWriteTimeout: a client that
// takes nothing for that long is cut without a close frame.
func (w *wsWriter) events(frames []byte) error { return w.write(frames, wsWriteTimeout) }

// control writes one control frame (a pong, a close) within timeout (the
// WebSocket library allows its own 1 s).
func (w *wsWriter) control(opcode int, payload []byte, timeout time.Duration) error {
	var b [2 + 125]byte
	if len(payload) > 125 {
		payload = payload[:125]
	}
	return w.write(appendWSFrame(b[:0], opcode, payload), timeout)
}

func (w *wsWriter) write(frames []byte, timeout time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := w.nc.Write(frames)
	return err
}

// appendWSFrame appends payload to b as one final, unmasked frame of
// opcode (websocket.TextMessage, CloseMessage, PongMessage).
func appendWSFrame(b []byte, opcode int, payload []byte) []byte {
	b = append(b, 0x80|byte(opcode)) // FIN
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}
