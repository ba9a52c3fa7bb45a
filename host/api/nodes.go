package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/transfer"
)

// removeNode is DELETE /api/nodes/{id}[?purge=true]. Deliveries to the
// node that are still running are cancelled (the other targets of those
// transfers go on). The node's inbox folder is kept unless purge=true; a
// purge also works for a node deleted earlier whose inbox was kept.
func (s *Server) removeNode(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	purge, err := queryBool(c, "purge")
	if err != nil {
		return err
	}
	n, err := s.d.Registry.Remove(id)
	switch {
	case errors.Is(err, registry.ErrNotFound) && purge:
		return s.purgeOrphanInbox(c, id)
	case errors.Is(err, registry.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("node %q not found", id))
	case errors.Is(err, registry.ErrNotLocal):
		return fiber.NewError(fiber.StatusConflict, fmt.Sprintf("node %q belongs to an external cluster; disconnect the cluster instead", id))
	case err != nil:
		return err
	}
	cancelled := s.d.Transfers.CancelNode(id, "the node was deleted during the transfer")
	msg := fmt.Sprintf("node %s removed (its inbox %s is kept)", n.ID, n.InboxDir)
	if purge {
		if err := s.purgeInbox(id, n.InboxDir); err != nil {
			return err
		}
		msg = fmt.Sprintf("node %s removed and its inbox purged", n.ID)
	}
	return c.JSON(fiber.Map{"success": true, "message": msg, "inbox_purged": purge, "cancelled_transfers": nonNil(cancelled)})
}

// purgeOrphanInbox removes the inbox folder a deleted node left.
func (s *Server) purgeOrphanInbox(c *fiber.Ctx, id string) error {
	dir, ok := s.inboxOf(id)
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("node %q not found", id))
	}
	if _, err := os.Lstat(dir); err != nil {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("node %q not found, and no inbox of that name is left", id))
	}
	if err := s.purgeInbox(id, dir); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"success": true, "message": fmt.Sprintf("inbox of deleted node %s purged", id), "inbox_purged": true, "cancelled_transfers": []string{}})
}

// inboxOf is the inbox folder of a local node id, when the id is a valid one.
func (s *Server) inboxOf(id string) (string, bool) {
	if s.d.InboxRoot == "" || registry.ValidateID(id) != nil {
		return "", false
	}
	return filepath.Join(s.d.InboxRoot, id), true
}

// purgeInbox deletes an inbox folder (only ever one directly under the
// inbox root) and forgets what the node received.
func (s *Server) purgeInbox(id, dir string) error {
	if want, ok := s.inboxOf(id); !ok || filepath.Clean(dir) != want {
		return fmt.Errorf("refusing to purge %s: not the inbox of node %s under %s", dir, id, s.d.InboxRoot)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("purge inbox %s: %w", dir, err)
	}
	return s.d.Transfers.ForgetNode(id)
}

// NodeFile is one file a node holds: from its inbox for a local node, from
// the record of the transfers that delivered it for any node.
type NodeFile struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified,omitzero"`
	// SHA256, TransferID and ReceivedAt come from the transfer that
	// delivered the file; they are left out when the file on disk is no
	// longer what that transfer delivered (changed size or later mtime).
	SHA256     string    `json:"sha256,omitempty"`
	TransferID string    `json:"transfer_id,omitempty"`
	ReceivedAt time.Time `json:"received_at,omitzero"`
	Location   string    `json:"location,omitempty"`
}

// nodeFiles is GET /api/nodes/{id}/files.
func (s *Server) nodeFiles(c *fiber.Ctx) error {
	n, err := s.nodeParam(c)
	if err != nil {
		return err
	}
	got, err := s.d.Transfers.ReceivedBy(n.ID)
	if err != nil {
		return err
	}
	out := []NodeFile{}
	if n.Kind != registry.KindLocal || n.InboxDir == "" {
		for _, r := range got {
			out = append(out, NodeFile{Name: r.Name, Size: int64(r.Size), SHA256: r.SHA256, TransferID: r.TransferID, ReceivedAt: r.ReceivedAt, Location: r.Location})
		}
		return c.JSON(fiber.Map{"success": true, "node_id": n.ID, "files": out, "count": len(out)})
	}
	byName := map[string]transfer.Received{}
	for _, r := range got {
		byName[r.Name] = r
	}
	entries, err := os.ReadDir(n.InboxDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list inbox of %s: %w", n.ID, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue // hidden (partial transfers), folders, symlinks
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		f := NodeFile{Name: e.Name(), Size: info.Size(), Modified: info.ModTime().UTC(), Location: filepath.Join(n.InboxDir, e.Name())}
		if r, ok := byName[e.Name()]; ok && delivered(r, info) {
			f.SHA256, f.TransferID, f.ReceivedAt = r.SHA256, r.TransferID, r.ReceivedAt
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return c.JSON(fiber.Map{"success": true, "node_id": n.ID, "files": out, "count": len(out)})
}

// delivered reports whether a file on disk is still what a transfer
// delivered: same size, not modified after the delivery was recorded.
func delivered(r transfer.Received, info os.FileInfo) bool {
	return uint64(info.Size()) == r.Size && !info.ModTime().After(r.ReceivedAt)
}

// nodeFile is GET/HEAD /api/nodes/{id}/files/{name}: a download from a
// local node's inbox (Range, ETag = sha256).
func (s *Server) nodeFile(c *fiber.Ctx) error {
	n, err := s.nodeParam(c)
	if err != nil {
		return err
	}
	if n.Kind != registry.KindLocal || n.InboxDir == "" {
		return fiber.NewError(fiber.StatusNotImplemented, fmt.Sprintf("node %s is a %s: files can be downloaded from local nodes only", n.ID, n.Kind))
	}
	name, err := url.PathUnescape(c.Params("name"))
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "file name: "+err.Error())
	}
	f, info, err := files.OpenIn(n.InboxDir, name)
	var ne *files.NameError
	switch {
	case errors.As(err, &ne):
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	case err != nil:
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("node %s: %v", n.ID, err))
	}
	sum := ""
	got, err := s.d.Transfers.ReceivedBy(n.ID)
	if err != nil {
		f.Close()
		return err
	}
	for _, r := range got {
		if r.Name == name && delivered(r, info) {
			sum = r.SHA256
		}
	}
	if sum == "" {
		// Not (or no longer) what a transfer delivered: hash it for the ETag.
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			f.Close()
			return fmt.Errorf("hash %s: %w", f.Name(), err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("rewind %s: %w", f.Name(), err)
		}
	}
	return serveFile(c, f, info.Size(), sum, info.ModTime())
}

// queryBool reads a boolean query parameter (default false).
func queryBool(c *fiber.Ctx, key string) (bool, error) {
	switch raw := c.Query(key); raw {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("%s must be true or false, got %q", key, raw))
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
