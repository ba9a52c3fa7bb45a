package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/fasthttp/websocket"
)

// EventTypes are the types of the /ws events (schema WebSocketEvent).
var EventTypes = []string{"snapshot", "status_update", "node_added", "node_updated", "node_removed", "node_dead",
	"plugin_state", "transfer_started", "transfer_progress", "transfer_completed", "transfer_partial",
	"transfer_failed", "transfer_cancelled", "transfer_interrupted", "transfer_activity", "distribution_updated",
	"message_received", "discovery_started", "cluster_discovered", "discovery_finished",
	"external_cluster_discovered", "external_cluster_connected", "external_cluster_disconnected"}

// Event is one message of the /ws stream.
type Event struct {
	Type string          `json:"type"`
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
	// Raw is the message as it arrived.
	Raw json.RawMessage `json:"-"`
}

// TransferProgress is the data of a transfer_progress event.
type TransferProgress struct {
	TransferID string `json:"transfer_id"`
	NodeID     string `json:"node_id"`
	BytesDone  int64  `json:"bytes_done"`
	BytesTotal int64  `json:"bytes_total"`
}

// Events is an open /ws stream.
type Events struct {
	conn *websocket.Conn
	stop func() bool
}

// Events connects to the /ws stream (the first event is a snapshot).
// Close it when done; cancelling ctx closes it too.
func (c *Client) Events(ctx context.Context) (*Events, error) {
	u := *c.base
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = c.base.Path + "/ws"
	h := http.Header{}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			e := &Error{Method: http.MethodGet, Path: "/ws", Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
			var body struct {
				Error string `json:"error"`
			}
			if json.NewDecoder(resp.Body).Decode(&body) == nil && body.Error != "" {
				e.Message = body.Error
			}
			return nil, e
		}
		return nil, fmt.Errorf("GET /ws: is the daemon running at %s? %w", c.base, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return &Events{conn: conn, stop: stop}, nil
}

// Next blocks for the next event. It returns io.EOF when the daemon closed
// the stream normally (it shuts down).
func (e *Events) Next() (Event, error) {
	_, msg, err := e.conn.ReadMessage()
	if err != nil {
		if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
			return Event{}, io.EOF
		}
		return Event{}, fmt.Errorf("read event: %w", err)
	}
	var ev Event
	if err := json.Unmarshal(msg, &ev); err != nil {
		return Event{}, fmt.Errorf("decode event %q: %w", msg, err)
	}
	ev.Raw = msg
	return ev, nil
}

// Close ends the stream.
func (e *Events) Close() error {
	e.stop()
	_ = e.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return e.conn.Close()
}
