package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/selector"
	"github.com/castray/castray/host/transfer"
)

// transferError turns the transfer service's errors into HTTP errors.
func transferError(id string, err error) error {
	var re *transfer.RequestError
	var ce *transfer.ConflictError
	switch {
	case errors.Is(err, transfer.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("transfer %q not found", id))
	case errors.As(err, &ce):
		return fiber.NewError(fiber.StatusConflict, ce.Msg)
	case errors.As(err, &re):
		return fiber.NewError(fiber.StatusBadRequest, re.Msg)
	}
	return err
}

// queryInt reads a non-negative integer query parameter (default 0).
func queryInt(c *fiber.Ctx, key string) (int, error) {
	raw := c.Query(key)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("%s must be a non-negative integer, got %q", key, raw))
	}
	return n, nil
}

// listTransfers is GET /api/transfers: newest first, filtered by state and
// paged with limit and offset.
func (s *Server) listTransfers(c *fiber.Ctx) error {
	o := transfer.ListOptions{State: c.Query("state")}
	if o.State != "" && !slices.Contains(transfer.States, o.State) {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("state %q: must be one of %s", o.State, strings.Join(transfer.States, ", ")))
	}
	var err error
	if o.Limit, err = queryInt(c, "limit"); err != nil {
		return err
	}
	if o.Offset, err = queryInt(c, "offset"); err != nil {
		return err
	}
	list, total := s.d.Transfers.List(o)
	return c.JSON(fiber.Map{"success": true, "transfers": list, "count": len(list), "total": total})
}

// startTransferRequest is POST /api/transfers: a file, a mode, and the
// targets as explicit node ids, a named group, or a selector; a pick
// chooses count nodes among a group's or a selector's.
type startTransferRequest struct {
	FileName string          `json:"file_name"`
	Mode     string          `json:"mode"`
	Targets  []string        `json:"targets"`
	Backend  string          `json:"backend"`
	Group    string          `json:"group"`
	Selector json.RawMessage `json:"selector"`
	Pick     json.RawMessage `json:"pick"`
}

// startTransfer is POST /api/transfers. It resolves a group or a selector
// (and a pick) to node ids and hands the transfer service explicit targets;
// a broadcast with a selector reaches every active node it allows. The
// reply says which nodes were chosen and why, and which group members were
// skipped.
func (s *Server) startTransfer(c *fiber.Ctx) error {
	var req startTransferRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	treq := transfer.Request{FileName: req.FileName, Mode: req.Mode, Targets: req.Targets, Backend: req.Backend}
	reply := fiber.Map{"success": true}
	given := 0
	for _, set := range []bool{len(req.Targets) > 0, req.Group != "", !absent(req.Selector)} {
		if set {
			given++
		}
	}
	switch {
	case given > 1:
		return fiber.NewError(fiber.StatusBadRequest, "give targets, group or selector, not several")
	case !absent(req.Pick) && req.Group == "" && absent(req.Selector):
		return fiber.NewError(fiber.StatusBadRequest, "pick needs a group or a selector to choose from")
	case req.Group != "":
		ids, skipped, chosen, err := s.groupTargets(req.Group, req.Pick)
		if err != nil {
			return err
		}
		treq.Targets, reply["skipped"] = ids, skipped
		if chosen != nil {
			reply["chosen"] = chosen
		}
	case !absent(req.Selector):
		sel, err := s.choose(req.Selector, req.Pick)
		if err != nil {
			return err
		}
		switch {
		case sel.Pick != nil:
			for _, ch := range sel.Chosen {
				treq.Targets = append(treq.Targets, ch.NodeID)
			}
			reply["chosen"] = sel.Chosen
		case req.Mode == "broadcast":
			treq.Allow = sel.Selector.Match
		default:
			for _, n := range sel.Matches {
				if n.State == registry.StateActive {
					treq.Targets = append(treq.Targets, n.ID)
				}
			}
			if len(treq.Targets) == 0 {
				return fiber.NewError(fiber.StatusBadRequest, "selector: no active node matches")
			}
		}
	}
	if treq.Mode == "broadcast" && treq.Allow == nil && (req.Group != "" || !absent(req.Pick)) {
		return fiber.NewError(fiber.StatusBadRequest, "broadcast reaches every active node (a selector narrows it); use multicast for a group or a pick")
	}
	rec, err := s.d.Transfers.Start(treq)
	if err != nil {
		return transferError("", err)
	}
	reply["transfer"] = rec
	return c.Status(fiber.StatusAccepted).JSON(reply)
}

// groupTargets resolves a named group (and an optional pick among its
// nodes) to the active node ids a transfer can reach, and lists the
// members it skipped: gone from the registry, or not active.
func (s *Server) groupTargets(name string, pickRaw json.RawMessage) (ids []string, skipped fiber.Map, chosen []selector.Choice, err error) {
	if s.d.Groups == nil {
		return nil, nil, nil, fiber.NewError(fiber.StatusServiceUnavailable, "groups are not available")
	}
	res, err := s.d.Groups.Resolve(name)
	if err != nil {
		return nil, nil, nil, groupError(err)
	}
	inactive := map[string]bool{}
	for _, id := range res.Inactive {
		inactive[id] = true
	}
	var nodes []registry.Node
	for _, id := range res.NodeIDs {
		if n, ok := s.d.Registry.Get(id); ok && !inactive[id] {
			ids = append(ids, id)
			nodes = append(nodes, n)
		}
	}
	skipped = fiber.Map{"missing": nonNil(res.Missing), "inactive": nonNil(res.Inactive)}
	if !absent(pickRaw) {
		pick, err := selector.DecodePick(pickRaw)
		if err != nil {
			return nil, nil, nil, selectionError(err)
		}
		chosen, err = selector.Choose(nodes, selector.Selector{}, pick, s.activeTransfers())
		if err != nil {
			return nil, nil, nil, selectionError(err)
		}
		ids = ids[:0]
		for _, ch := range chosen {
			ids = append(ids, ch.NodeID)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("group %q: no active member to send to", name))
	}
	return ids, skipped, chosen, nil
}

func (s *Server) getTransfer(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	rec, err := s.d.Transfers.Get(id)
	if err != nil {
		return transferError(id, err)
	}
	return c.JSON(fiber.Map{"success": true, "transfer": rec})
}

// deleteTransfer is DELETE /api/transfers/{id}: it cancels a running
// transfer (202), and deletes the record of an ended one (200).
func (s *Server) deleteTransfer(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	rec, err := s.d.Transfers.Get(id)
	if err != nil {
		return transferError(id, err)
	}
	if rec.State == transfer.StatePending || rec.State == transfer.StateRunning {
		if err := s.d.Transfers.Cancel(id); err != nil {
			return transferError(id, err)
		}
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"success": true, "message": "cancelling"})
	}
	if err := s.d.Transfers.Delete(id); err != nil {
		return transferError(id, err)
	}
	return c.JSON(fiber.Map{"success": true, "message": fmt.Sprintf("transfer record %s deleted", id)})
}

// retryTransfer is POST /api/transfers/{id}/retry.
func (s *Server) retryTransfer(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	rec, err := s.d.Transfers.Retry(id)
	if err != nil {
		return transferError(id, err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"success": true, "transfer": rec})
}
