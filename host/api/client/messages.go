package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
)

// Cast and message types of POST /api/send (schema SendRequest).
var (
	CastTypes    = []string{Unicast, Multicast, Broadcast}
	MessageTypes = []string{"text", "json", "file"}
)

// SendRequest is the original's CastMessage (POST /api/send). Content is
// the JSON value sent: a JSON string for text, any JSON value for json;
// left out for file, which names an uploaded file in FilePath.
type SendRequest struct {
	ID          string          `json:"id,omitempty"`
	CastType    string          `json:"cast_type"`
	MessageType string          `json:"message_type"`
	Content     json.RawMessage `json:"content,omitempty"`
	Sender      string          `json:"sender,omitempty"`
	Recipients  []string        `json:"recipients,omitempty"`
	GroupID     string          `json:"group_id,omitempty"`
	Timestamp   *float64        `json:"timestamp,omitempty"`
	FilePath    string          `json:"file_path,omitempty"`
	FileSize    *int64          `json:"file_size,omitempty"`
}

// CastResponse answers POST /api/send: 200 for a text or JSON message (it
// is recorded on every recipient), 202 for a file (its transfer started).
type CastResponse struct {
	Envelope
	Message          string          `json:"message"`
	RecipientsCount  int             `json:"recipients_count"`
	FailedRecipients []string        `json:"failed_recipients"`
	DeliveryTime     float64         `json:"delivery_time"`
	MessageID        string          `json:"message_id"`
	Recipients       []string        `json:"recipients"`
	Skipped          *Skipped        `json:"skipped,omitempty"`
	TransferID       string          `json:"transfer_id,omitempty"`
	Transfer         *TransferRecord `json:"transfer,omitempty"`
}

// Send sends the original's text, JSON or file message.
func (c *Client) Send(ctx context.Context, req SendRequest) (*CastResponse, error) {
	return call[CastResponse](ctx, c, http.MethodPost, "/api/send", req)
}

// CastMessage is a message as recorded (the "message" of NodeMessage).
type CastMessage struct {
	ID          string          `json:"id"`
	CastType    string          `json:"cast_type"`
	MessageType string          `json:"message_type"`
	Content     json.RawMessage `json:"content"`
	Sender      string          `json:"sender"`
	Timestamp   float64         `json:"timestamp"`
}

// NodeMessage is one entry of a node's messages (schema NodeMessage).
type NodeMessage struct {
	Direction  string      `json:"direction"` // received or sent
	NodeID     string      `json:"node_id"`
	From       string      `json:"from"`
	Recipients []string    `json:"recipients,omitempty"`
	Message    CastMessage `json:"message"`
	Timestamp  float64     `json:"timestamp"`
}

// NodeMessageList is GET /api/nodes/{id}/messages, which answers a bare
// array (the original's shape): Messages holds it, Raw the array as it came.
type NodeMessageList struct {
	Envelope
	Messages []NodeMessage
}

// UnmarshalJSON reads the bare array.
func (l *NodeMessageList) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &l.Messages) }

// NodeMessages gets a node's latest messages, newest first: at most count
// (the daemon's default, 50, when count is 0).
func (c *Client) NodeMessages(ctx context.Context, id string, count int) (*NodeMessageList, error) {
	path := "/api/nodes/" + esc(id) + "/messages"
	if count > 0 {
		path += "?count=" + strconv.Itoa(count)
	}
	return call[NodeMessageList](ctx, c, http.MethodGet, path, nil)
}

// ManualTransferRequest is the original's POST /api/file-transfers/manual.
type ManualTransferRequest struct {
	SenderID   string   `json:"sender_id"`
	FileName   string   `json:"file_name"`
	Recipients []string `json:"recipients"`
}

// ManualResult is one recipient of a manual transfer.
type ManualResult struct {
	Recipient string `json:"recipient"`
	Success   bool   `json:"success"`
	Message   string `json:"message"`
}

// ManualTransferResponse answers POST /api/file-transfers/manual (202).
type ManualTransferResponse struct {
	Envelope
	Message    string         `json:"message"`
	Results    []ManualResult `json:"results"`
	TransferID string         `json:"transfer_id"`
	Transfer   TransferRecord `json:"transfer"`
}

// ManualTransfer starts the original's manual transfer of an uploaded file.
func (c *Client) ManualTransfer(ctx context.Context, req ManualTransferRequest) (*ManualTransferResponse, error) {
	return call[ManualTransferResponse](ctx, c, http.MethodPost, "/api/file-transfers/manual", req)
}

// FileTransferStats are a node's transfer counts.
type FileTransferStats struct {
	TotalTransfers      int   `json:"total_transfers"`
	SuccessfulTransfers int   `json:"successful_transfers"`
	FailedTransfers     int   `json:"failed_transfers"`
	BytesTransferred    int64 `json:"bytes_transferred"`
}

// NodeTransferStatus is one node of GET /api/file-transfers/status.
type NodeTransferStatus struct {
	FileTransferStats   FileTransferStats `json:"file_transfer_stats"`
	ActiveTransfers     int               `json:"active_transfers"`
	AutoTransferEnabled bool              `json:"auto_transfer_enabled"`
	AutoTransferQueue   int               `json:"auto_transfer_queue"`
}

// FileTransferStatus is GET /api/file-transfers/status, an object keyed by
// node id (no envelope): Nodes holds it.
type FileTransferStatus struct {
	Envelope
	Nodes map[string]NodeTransferStatus
}

// UnmarshalJSON reads the object keyed by node id.
func (s *FileTransferStatus) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.Nodes) }

// FileTransferStatus gets the original's per-node transfer counts.
func (c *Client) FileTransferStatus(ctx context.Context) (*FileTransferStatus, error) {
	return call[FileTransferStatus](ctx, c, http.MethodGet, "/api/file-transfers/status", nil)
}
