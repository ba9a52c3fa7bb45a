package api

// The original CastRay's message and file-transfer endpoints, with its
// field names: POST /api/send, GET /api/nodes/{node_id}/messages,
// POST /api/file-transfers/manual and GET /api/file-transfers/status.
//
// Files go through the transfer service like POST /api/transfers (routed
// per target to the plugin serving its kind). Text and JSON messages are
// recorded by the daemon (host/messages): recording is their delivery, for
// local and Ray nodes alike, announced by message_received events.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/messages"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/transfer"
)

// defaultSender names the sender of a message that does not say.
const defaultSender = "api"

// sendRequest is the original's CastMessage. Every field but cast_type and
// message_type may be omitted or null.
type sendRequest struct {
	ID          string          `json:"id"`
	CastType    string          `json:"cast_type"`
	MessageType string          `json:"message_type"`
	Content     json.RawMessage `json:"content"`
	Sender      string          `json:"sender"`
	Recipients  []string        `json:"recipients"`
	GroupID     string          `json:"group_id"`
	Timestamp   float64         `json:"timestamp"`
	FilePath    string          `json:"file_path"`
	FileSize    *int64          `json:"file_size"`
}

// castResponse is the original's CastResponse, plus what CastRay adds.
type castResponse struct {
	Success          bool     `json:"success"`
	Message          string   `json:"message"`
	RecipientsCount  int      `json:"recipients_count"`
	FailedRecipients []string `json:"failed_recipients"`
	// DeliveryTime is how long the request took, in seconds.
	DeliveryTime float64 `json:"delivery_time"`
	MessageID    string  `json:"message_id"`
	// Recipients are the nodes reached (text/json) or targeted (file).
	Recipients []string `json:"recipients"`
	// Skipped names the group members left out (group_id only).
	Skipped fiber.Map `json:"skipped,omitempty"`
	// TransferID and Transfer describe the transfer of a file message.
	TransferID string           `json:"transfer_id,omitempty"`
	Transfer   *transfer.Record `json:"transfer,omitempty"`
}

var castTypes = []string{"unicast", "multicast", "broadcast"}

// send is POST /api/send.
func (s *Server) send(c *fiber.Ctx) error {
	began := time.Now()
	var req sendRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.CastType == "":
		return fiber.NewError(fiber.StatusBadRequest, "cast_type is required (unicast, multicast or broadcast)")
	case !slices.Contains(castTypes, req.CastType):
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("cast_type %q: must be unicast, multicast or broadcast", req.CastType))
	}
	switch req.MessageType {
	case "text":
		if absent(req.Content) {
			return fiber.NewError(fiber.StatusBadRequest, "content is required for a text message")
		}
		var str string
		if err := json.Unmarshal(req.Content, &str); err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "content: a text message takes a string (send message_type json for other values)")
		}
	case "json":
		if absent(req.Content) {
			return fiber.NewError(fiber.StatusBadRequest, "content is required for a json message")
		}
	case "file":
		if req.FilePath == "" {
			return fiber.NewError(fiber.StatusBadRequest, "file_path is required for a file message: the name of an uploaded file")
		}
	case "":
		return fiber.NewError(fiber.StatusBadRequest, "message_type is required (text, json or file)")
	default:
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("message_type %q: must be text, json or file", req.MessageType))
	}
	if req.Timestamp < 0 {
		return fiber.NewError(fiber.StatusBadRequest, "timestamp must be Unix seconds, not negative")
	}
	if req.ID == "" {
		req.ID = newMessageID()
	}
	if req.Sender == "" {
		req.Sender = defaultSender
	}
	targets, skipped, err := s.castTargets(req.CastType, req.Recipients, req.GroupID)
	if err != nil {
		return err
	}

	if req.MessageType == "file" {
		return s.sendFile(c, began, req, targets, skipped)
	}
	if s.d.Messages == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "the message log is not available")
	}
	if req.CastType == "broadcast" {
		for _, n := range s.d.Registry.List(registry.Filter{State: registry.StateActive}) {
			targets = append(targets, n.ID)
		}
		if len(targets) == 0 {
			return fiber.NewError(fiber.StatusBadRequest, "broadcast: no active node to send to")
		}
	}
	var senderNode string
	if _, ok := s.d.Registry.Get(req.Sender); ok {
		senderNode = req.Sender
	}
	var content bytes.Buffer
	if err := json.Compact(&content, req.Content); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "content: "+err.Error())
	}
	msg := messages.Message{ID: req.ID, CastType: req.CastType, MessageType: req.MessageType, Content: content.Bytes(),
		Sender: req.Sender, Timestamp: req.Timestamp}
	if _, err := s.d.Messages.Record(msg, targets, senderNode); err != nil {
		return err
	}
	return c.JSON(castResponse{
		Success: true, Message: fmt.Sprintf("%s message %s delivered to %d node(s)", req.MessageType, req.ID, len(targets)),
		RecipientsCount: len(targets), FailedRecipients: []string{}, DeliveryTime: time.Since(began).Seconds(),
		MessageID: req.ID, Recipients: targets, Skipped: skipped,
	})
}

// sendFile casts an uploaded file through the transfer service. The reply
// comes when the transfer is accepted (202); its outcome is in the
// transfer record, the transfer events and GET /api/file-transfers/status.
func (s *Server) sendFile(c *fiber.Ctx, began time.Time, req sendRequest, targets []string, skipped fiber.Map) error {
	meta, err := s.uploadedFile("file_path", req.FilePath)
	if err != nil {
		return err
	}
	if req.FileSize != nil && *req.FileSize != meta.Size {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("file_size %d does not match the %d bytes of %q", *req.FileSize, meta.Size, meta.Name))
	}
	rec, err := s.d.Transfers.Start(transfer.Request{FileName: meta.Name, Mode: req.CastType, Targets: targets})
	if err != nil {
		return transferError("", err)
	}
	ids := make([]string, 0, len(rec.Targets))
	for _, t := range rec.Targets {
		ids = append(ids, t.NodeID)
	}
	return c.Status(fiber.StatusAccepted).JSON(castResponse{
		Success: true, Message: fmt.Sprintf("transfer %s of %s to %d node(s) started", rec.ID, meta.Name, len(ids)),
		RecipientsCount: len(ids), FailedRecipients: []string{}, DeliveryTime: time.Since(began).Seconds(),
		MessageID: req.ID, Recipients: ids, Skipped: skipped, TransferID: rec.ID, Transfer: &rec,
	})
}

// castTargets checks the recipients of a cast: unicast takes one node,
// multicast nodes or a group, broadcast neither (the caller or the
// transfer service picks every active node). Each node must exist (404)
// and be active.
func (s *Server) castTargets(castType string, recipients []string, groupID string) ([]string, fiber.Map, error) {
	switch castType {
	case "broadcast":
		if len(recipients) > 0 || groupID != "" {
			return nil, nil, fiber.NewError(fiber.StatusBadRequest, "broadcast reaches every active node: leave recipients and group_id empty")
		}
		return nil, nil, nil
	case "unicast":
		if groupID != "" {
			return nil, nil, fiber.NewError(fiber.StatusBadRequest, "group_id: unicast sends to one node; use multicast for a group")
		}
		if len(recipients) != 1 {
			return nil, nil, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("recipients: unicast takes exactly one node id, got %d", len(recipients)))
		}
	case "multicast":
		switch {
		case groupID != "" && len(recipients) > 0:
			return nil, nil, fiber.NewError(fiber.StatusBadRequest, "give recipients or group_id, not both")
		case groupID != "":
			ids, skipped, _, err := s.groupTargets(groupID, nil)
			if err != nil {
				var fe *fiber.Error
				if errors.As(err, &fe) {
					return nil, nil, fiber.NewError(fe.Code, "group_id: "+fe.Message)
				}
				return nil, nil, err
			}
			return ids, skipped, nil
		case len(recipients) == 0:
			return nil, nil, fiber.NewError(fiber.StatusBadRequest, "recipients or group_id is required for multicast")
		}
	}
	if err := s.checkRecipients("recipients", recipients); err != nil {
		return nil, nil, err
	}
	return recipients, nil, nil
}

// checkRecipients requires each id to name an active node, once.
func (s *Server) checkRecipients(field string, ids []string) error {
	seen := map[string]bool{}
	for _, id := range ids {
		n, ok := s.d.Registry.Get(id)
		switch {
		case id == "":
			return fiber.NewError(fiber.StatusBadRequest, field+": an empty node id")
		case seen[id]:
			return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("%s: node %q is listed twice", field, id))
		case !ok:
			return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("%s: node %q not found", field, id))
		case n.State != registry.StateActive:
			return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("%s: node %q is %s", field, id, n.State))
		}
		seen[id] = true
	}
	return nil
}

// uploadedFile finds the uploaded file a client names: its plain name, or
// its path inside the upload store (the original answered uploads with a
// path). Any other path is refused: only uploaded files can be sent.
func (s *Server) uploadedFile(field, p string) (files.Meta, error) {
	st, err := s.fileStore()
	if err != nil {
		return files.Meta{}, err
	}
	name := p
	if strings.ContainsAny(p, `/\`) {
		clean := filepath.Clean(p)
		if !filepath.IsAbs(clean) || filepath.Dir(clean) != st.Dir() {
			return files.Meta{}, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf(
				"%s %q is not in the upload store: only uploaded files can be sent; upload it (POST /api/upload or PUT /api/files/{name}) and give its name", field, p))
		}
		name = filepath.Base(clean)
	}
	if err := files.CheckName(name); err != nil {
		return files.Meta{}, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("%s: %v", field, err))
	}
	meta, err := st.Stat(name)
	switch {
	case errors.Is(err, files.ErrNotFound):
		return files.Meta{}, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("%s: no uploaded file named %q", field, name))
	case err != nil:
		return files.Meta{}, fmt.Errorf("%s %s: %w", field, name, err)
	}
	return meta, nil
}

func newMessageID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "msg-" + hex.EncodeToString(b[:])
}

// defaultMessageCount is the original's default for count.
const defaultMessageCount = 50

// nodeMessages is GET /api/nodes/{node_id}/messages?count=: the node's
// latest messages, newest first, as a bare list (the original's shape).
func (s *Server) nodeMessages(c *fiber.Ctx) error {
	if s.d.Messages == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "the message log is not available")
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	count := defaultMessageCount
	if raw := c.Query("count"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("count must be a positive integer, got %q", raw))
		}
		count = n
	}
	if _, ok := s.d.Registry.Get(id); !ok && s.d.Messages.Count(id) == 0 {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("node %q not found", id))
	}
	list, err := s.d.Messages.Recent(id, count)
	if err != nil {
		return err
	}
	return c.JSON(list)
}

// manualTransferRequest is the original's POST /api/file-transfers/manual.
type manualTransferRequest struct {
	SenderID   string   `json:"sender_id"`
	FileName   string   `json:"file_name"`
	Recipients []string `json:"recipients"`
}

// manualResult is one recipient of a manual transfer, as the original
// reported it: success means the transfer to it was started.
type manualResult struct {
	Recipient string `json:"recipient"`
	Success   bool   `json:"success"`
	Message   string `json:"message"`
}

// manualTransfer is POST /api/file-transfers/manual: an uploaded file to
// the recipients (unicast for one, multicast for several) through the
// transfer service. The sender must be a node, as in the original; the
// daemon reads the file from its upload store.
func (s *Server) manualTransfer(c *fiber.Ctx) error {
	var req manualTransferRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.SenderID == "" {
		return fiber.NewError(fiber.StatusBadRequest, "sender_id is required")
	}
	if _, ok := s.d.Registry.Get(req.SenderID); !ok {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("sender_id: node %q not found", req.SenderID))
	}
	if req.FileName == "" {
		return fiber.NewError(fiber.StatusBadRequest, "file_name is required: the name of an uploaded file")
	}
	if len(req.Recipients) == 0 {
		return fiber.NewError(fiber.StatusBadRequest, "recipients is required: at least one node id")
	}
	if err := s.checkRecipients("recipients", req.Recipients); err != nil {
		return err
	}
	meta, err := s.uploadedFile("file_name", req.FileName)
	if err != nil {
		return err
	}
	mode := "multicast"
	if len(req.Recipients) == 1 {
		mode = "unicast"
	}
	rec, err := s.d.Transfers.Start(transfer.Request{FileName: meta.Name, Mode: mode, Targets: req.Recipients})
	if err != nil {
		return transferError("", err)
	}
	results := make([]manualResult, 0, len(rec.Targets))
	for _, t := range rec.Targets {
		results = append(results, manualResult{Recipient: t.NodeID, Success: true, Message: fmt.Sprintf("transfer %s started (%s)", rec.ID, t.Backend)})
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{
		"success": true, "message": fmt.Sprintf("started %d/%d transfers of %s", len(results), len(req.Recipients), meta.Name),
		"results": results, "transfer_id": rec.ID, "transfer": rec,
	})
}

// transferStats are the original's file_transfer_stats, counted from the
// kept transfer records' per-target states: a target counts as successful
// only once its backend verified the delivery.
type transferStats struct {
	TotalTransfers      int   `json:"total_transfers"`
	SuccessfulTransfers int   `json:"successful_transfers"`
	FailedTransfers     int   `json:"failed_transfers"`
	BytesTransferred    int64 `json:"bytes_transferred"`
}

// nodeTransferStatus is one node of GET /api/file-transfers/status.
type nodeTransferStatus struct {
	FileTransferStats transferStats `json:"file_transfer_stats"`
	ActiveTransfers   int           `json:"active_transfers"`
	// The original's automatic transfers do not exist in CastRay.
	AutoTransferEnabled bool `json:"auto_transfer_enabled"`
	AutoTransferQueue   int  `json:"auto_transfer_queue"`
}

// fileTransferStatus is GET /api/file-transfers/status: per node in the
// registry, what it was sent (as a target).
func (s *Server) fileTransferStatus(c *fiber.Ctx) error {
	out := map[string]*nodeTransferStatus{}
	for _, n := range s.d.Registry.List(registry.Filter{}) {
		out[n.ID] = &nodeTransferStatus{}
	}
	recs, _ := s.d.Transfers.List(transfer.ListOptions{})
	for _, r := range recs {
		for _, t := range r.Targets {
			st, ok := out[t.NodeID]
			if !ok {
				continue
			}
			st.FileTransferStats.TotalTransfers++
			switch t.State {
			case transfer.StateCompleted:
				st.FileTransferStats.SuccessfulTransfers++
				st.FileTransferStats.BytesTransferred += r.File.Size
			case transfer.StatePending, transfer.StateRunning:
				st.ActiveTransfers++
			default: // failed, cancelled, interrupted: nothing delivered
				st.FileTransferStats.FailedTransfers++
			}
		}
	}
	return c.JSON(out)
}
