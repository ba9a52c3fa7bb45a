package api

import (
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
	s.app.Get("/ws", websocket.New(s.serveWS))
}

const wsWriteTimeout = 10 * time.Second

func (s *Server) serveWS(conn *websocket.Conn) {
	sub := s.d.Bus.Subscribe(s.d.ClientBuffer)
	defer sub.Close()
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
		return conn.WriteJSON(ev) == nil
	}
	snapshot := events.Event{Type: events.TypeSnapshot, TS: time.Now().UTC(), Data: map[string]any{
		"status":  s.Status(),
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
			if !ok {
				if sub.Dropped() {
					if m := s.d.Metrics; m != nil {
						m.WSDropped()
					}
					_ = conn.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "client too slow; events dropped"),
						time.Now().Add(time.Second))
				}
				return
			}
			if !write(ev) {
				return
			}
		}
	}
}
