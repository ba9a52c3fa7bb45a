package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/selector"
	"github.com/castray/castray/host/transfer"
)

// selectRequest is POST /api/nodes/select. The selector and the pick are
// decoded by host/selector, which names unknown keys and bad values.
type selectRequest struct {
	Selector json.RawMessage `json:"selector"`
	Pick     json.RawMessage `json:"pick"`
}

// selection is what a selector (and a pick) give now.
type selection struct {
	Selector selector.Selector `json:"selector"`
	Matches  []registry.Node   `json:"matches"`
	// ActiveTransfers counts, for every matching node, the targets of
	// pending or running transfers that are not done with it.
	ActiveTransfers map[string]int `json:"active_transfers"`
	Pick            *selector.Pick `json:"pick,omitempty"`
	// Chosen is the pick's choice, best first (only with a pick).
	Chosen []selector.Choice `json:"chosen,omitempty"`
}

// absent reports whether an optional JSON value was left out or null.
func absent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// selectionError turns the selector package's errors into HTTP errors:
// invalid input is 400, a pick that cannot be met is 409.
func selectionError(err error) error {
	var fe *selector.FieldError
	switch {
	case errors.As(err, &fe):
		return fiber.NewError(fiber.StatusBadRequest, fe.Error())
	case errors.Is(err, selector.ErrNotEnough):
		return fiber.NewError(fiber.StatusConflict, err.Error())
	}
	return err
}

// choose decodes a selector and an optional pick and applies them to the
// registry, counting active transfers with the transfer service. The
// errors are HTTP errors. POST /api/transfers can use it for its selector
// and pick.
func (s *Server) choose(selRaw, pickRaw json.RawMessage) (selection, error) {
	if absent(selRaw) {
		return selection{}, fiber.NewError(fiber.StatusBadRequest, "selector is required (an object; {} matches every node)")
	}
	sel, err := selector.Decode(selRaw)
	if err != nil {
		return selection{}, selectionError(err)
	}
	var pick *selector.Pick
	if !absent(pickRaw) {
		p, err := selector.DecodePick(pickRaw)
		if err != nil {
			return selection{}, selectionError(err)
		}
		pick = &p
	}
	nodes := s.d.Registry.List(registry.Filter{})
	active := s.activeTransfers()
	out := selection{Selector: sel, Matches: sel.Select(nodes), ActiveTransfers: map[string]int{}, Pick: pick}
	for _, n := range out.Matches {
		out.ActiveTransfers[n.ID] = active(n.ID)
	}
	if pick != nil {
		if out.Chosen, err = selector.Choose(nodes, sel, *pick, active); err != nil {
			return selection{}, selectionError(err)
		}
	}
	return out, nil
}

// activeTransfers returns, as of now, the number of targets of pending or
// running transfers that are still pending or running, per node id.
func (s *Server) activeTransfers() func(nodeID string) int {
	counts := map[string]int{}
	if s.d.Transfers != nil {
		for _, state := range []string{transfer.StatePending, transfer.StateRunning} {
			list, _ := s.d.Transfers.List(transfer.ListOptions{State: state})
			for _, rec := range list {
				for _, t := range rec.Targets {
					if t.State == transfer.StatePending || t.State == transfer.StateRunning {
						counts[t.NodeID]++
					}
				}
			}
		}
	}
	return func(id string) int { return counts[id] }
}

// selectNodes is POST /api/nodes/select: a dry run of a selector and a
// pick. It changes nothing.
func (s *Server) selectNodes(c *fiber.Ctx) error {
	var req selectRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	sel, err := s.choose(req.Selector, req.Pick)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{
		"success": true, "selector": sel.Selector, "matches": sel.Matches, "count": len(sel.Matches),
		"active_transfers": sel.ActiveTransfers, "pick": sel.Pick, "chosen": sel.Chosen,
	})
}

// nodeParam is the node a request's :id names (404 naming it when there
// is none).
func (s *Server) nodeParam(c *fiber.Ctx) (registry.Node, error) {
	id, err := pathParam(c, "id")
	if err != nil {
		return registry.Node{}, err
	}
	n, ok := s.d.Registry.Get(id)
	if !ok {
		return registry.Node{}, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("node %q not found", id))
	}
	return n, nil
}

// pathParam is a percent-decoded copy of a path parameter (Params points
// into the request buffer).
func pathParam(c *fiber.Ctx, key string) (string, error) {
	v, err := url.PathUnescape(c.Params(key))
	if err != nil {
		return "", fiber.NewError(fiber.StatusBadRequest, key+": invalid percent-encoding: "+err.Error())
	}
	return strings.Clone(v), nil
}
