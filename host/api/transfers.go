package api

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

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

func (s *Server) startTransfer(c *fiber.Ctx) error {
	var req transfer.Request
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	rec, err := s.d.Transfers.Start(req)
	if err != nil {
		return transferError("", err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"success": true, "transfer": rec})
}

func (s *Server) getTransfer(c *fiber.Ctx) error {
	rec, err := s.d.Transfers.Get(c.Params("id"))
	if err != nil {
		return transferError(c.Params("id"), err)
	}
	return c.JSON(fiber.Map{"success": true, "transfer": rec})
}

// deleteTransfer is DELETE /api/transfers/{id}: it cancels a running
// transfer (202), and deletes the record of an ended one (200).
func (s *Server) deleteTransfer(c *fiber.Ctx) error {
	id := c.Params("id")
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
	rec, err := s.d.Transfers.Retry(c.Params("id"))
	if err != nil {
		return transferError(c.Params("id"), err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"success": true, "transfer": rec})
}
