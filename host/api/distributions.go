package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/distribution"
	"github.com/castray/castray/host/selector"
)

// distributionService is the distribution service, or a 503 when the
// daemon has none.
func (s *Server) distributionService() (*distribution.Service, error) {
	if s.d.Distributions == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "distributions are not configured")
	}
	return s.d.Distributions, nil
}

// distributionError turns the distribution service's errors into HTTP
// errors.
func distributionError(err error) error {
	var ie *distribution.InputError
	var fe *selector.FieldError
	switch {
	case errors.As(err, &ie):
		return fiber.NewError(fiber.StatusBadRequest, ie.Error())
	case errors.As(err, &fe):
		return fiber.NewError(fiber.StatusBadRequest, fe.Error())
	case errors.Is(err, distribution.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, err.Error())
	}
	return err
}

// createDistributionRequest is POST /api/distributions.
type createDistributionRequest struct {
	FileName string          `json:"file_name"`
	Selector json.RawMessage `json:"selector"`
	Name     string          `json:"name"`
}

// createDistribution is POST /api/distributions: the file must be on every
// node the selector matches, now and later. The answer (201) is the
// distribution after its first reconcile.
func (s *Server) createDistribution(c *fiber.Ctx) error {
	svc, err := s.distributionService()
	if err != nil {
		return err
	}
	var req createDistributionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.FileName == "" {
		return fiber.NewError(fiber.StatusBadRequest, "file_name is required")
	}
	if absent(req.Selector) {
		return fiber.NewError(fiber.StatusBadRequest, `selector is required (an object; {} matches every node, {"kind": "ray-node"} every Ray node)`)
	}
	sel, err := selector.Decode(req.Selector)
	if err != nil {
		return distributionError(err)
	}
	d, err := svc.Create(req.FileName, sel, req.Name)
	if err != nil {
		return distributionError(err)
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"success": true, "message": fmt.Sprintf("distribution %s of %s created", d.ID, d.FileName), "distribution": d,
	})
}

func (s *Server) listDistributions(c *fiber.Ctx) error {
	svc, err := s.distributionService()
	if err != nil {
		return err
	}
	list := svc.List()
	return c.JSON(fiber.Map{"success": true, "distributions": list, "count": len(list)})
}

func (s *Server) getDistribution(c *fiber.Ctx) error {
	svc, err := s.distributionService()
	if err != nil {
		return err
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	d, err := svc.Get(id)
	if err != nil {
		return distributionError(err)
	}
	return c.JSON(fiber.Map{"success": true, "distribution": d})
}

// deleteDistribution is DELETE /api/distributions/{id}: it stops the
// distribution. Files already delivered stay on the nodes (removing them
// is not offered: remove_files=true is refused) and transfers under way
// finish.
func (s *Server) deleteDistribution(c *fiber.Ctx) error {
	svc, err := s.distributionService()
	if err != nil {
		return err
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	for key := range c.Queries() {
		if key != "remove_files" {
			return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("unknown query parameter %q", key))
		}
	}
	switch v := strings.ToLower(c.Query("remove_files")); v {
	case "", "false", "0":
	case "true", "1":
		return fiber.NewError(fiber.StatusBadRequest, "remove_files=true is not supported: files already delivered stay on the nodes; delete the distribution without it")
	default:
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("remove_files must be true or false, got %q", v))
	}
	d, err := svc.Delete(id)
	if err != nil {
		return distributionError(err)
	}
	return c.JSON(fiber.Map{
		"success": true, "distribution": d,
		"message": fmt.Sprintf("distribution %s stopped; the %d nodes that have %s keep it", id, d.Counts.Present, d.FileName),
	})
}

// distributionsUsing names the distributions that deliver an uploaded file
// (for the 409 of DELETE /api/files/{name}), or "" when none does.
func (s *Server) distributionsUsing(name string) string {
	if s.d.Distributions == nil {
		return ""
	}
	return strings.Join(s.d.Distributions.Referencing(name), ", ")
}
