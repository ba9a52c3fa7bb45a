package api

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/selector"
)

// groupService is the groups service, or a 503 when the daemon has none.
func (s *Server) groupService() (*groups.Service, error) {
	if s.d.Groups == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "groups are not configured")
	}
	return s.d.Groups, nil
}

// groupError turns the groups service's errors into HTTP errors.
func groupError(err error) error {
	var fe *selector.FieldError
	switch {
	case errors.As(err, &fe):
		return fiber.NewError(fiber.StatusBadRequest, fe.Error())
	case errors.Is(err, groups.ErrNotFound), errors.Is(err, groups.ErrNodeNotFound), errors.Is(err, groups.ErrNotMember):
		return fiber.NewError(fiber.StatusNotFound, err.Error())
	case errors.Is(err, groups.ErrExists), errors.Is(err, groups.ErrNotList):
		return fiber.NewError(fiber.StatusConflict, err.Error())
	}
	return err
}

// createGroupRequest is POST /api/groups: a name and either members or a
// selector. Members is a pointer so that [] (an empty list group) differs
// from no members at all.
type createGroupRequest struct {
	Name     string          `json:"name"`
	Members  *[]string       `json:"members"`
	Selector json.RawMessage `json:"selector"`
}

func (s *Server) listGroups(c *fiber.Ctx) error {
	svc, err := s.groupService()
	if err != nil {
		return err
	}
	list := svc.List()
	return c.JSON(fiber.Map{"success": true, "groups": list, "count": len(list)})
}

func (s *Server) createGroup(c *fiber.Ctx) error {
	svc, err := s.groupService()
	if err != nil {
		return err
	}
	var req createGroupRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return fiber.NewError(fiber.StatusBadRequest, "name is required")
	}
	hasSel := !absent(req.Selector)
	switch {
	case req.Members == nil && !hasSel:
		return fiber.NewError(fiber.StatusBadRequest, "members or selector is required: members (a list of node ids, may be empty) makes a list group, selector (an object) a selector group")
	case req.Members != nil && hasSel:
		return fiber.NewError(fiber.StatusBadRequest, "members and selector: give one of them, not both")
	}
	var sel *selector.Selector
	var members []string
	if hasSel {
		v, err := selector.Decode(req.Selector)
		if err != nil {
			return groupError(err)
		}
		sel = &v
	} else {
		members = *req.Members
	}
	g, err := svc.Create(req.Name, members, sel)
	if err != nil {
		return groupError(err)
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"success": true, "message": fmt.Sprintf("%s group %s created", g.Type, g.Name),
		"group": g, "resolved": svc.ResolveGroup(g),
	})
}

func (s *Server) getGroup(c *fiber.Ctx) error {
	svc, err := s.groupService()
	if err != nil {
		return err
	}
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	g, err := svc.Get(name)
	if err != nil {
		return groupError(err)
	}
	return c.JSON(fiber.Map{"success": true, "group": g, "resolved": svc.ResolveGroup(g)})
}

func (s *Server) deleteGroup(c *fiber.Ctx) error {
	svc, err := s.groupService()
	if err != nil {
		return err
	}
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	if _, err := svc.Delete(name); err != nil {
		return groupError(err)
	}
	return c.JSON(fiber.Map{"success": true, "message": fmt.Sprintf("group %s deleted", name)})
}

// memberParams reads {name} and {node_id}.
func memberParams(c *fiber.Ctx) (name, node string, err error) {
	if name, err = pathParam(c, "name"); err != nil {
		return "", "", err
	}
	if node, err = pathParam(c, "node_id"); err != nil {
		return "", "", err
	}
	return name, node, nil
}

func (s *Server) addGroupMember(c *fiber.Ctx) error {
	svc, err := s.groupService()
	if err != nil {
		return err
	}
	name, node, err := memberParams(c)
	if err != nil {
		return err
	}
	g, added, err := svc.AddMember(name, node)
	if err != nil {
		return groupError(err)
	}
	msg := fmt.Sprintf("node %s added to group %s", node, name)
	if !added {
		msg = fmt.Sprintf("node %s already is a member of group %s", node, name)
	}
	return c.JSON(fiber.Map{"success": true, "message": msg, "added": added, "group": g})
}

func (s *Server) removeGroupMember(c *fiber.Ctx) error {
	svc, err := s.groupService()
	if err != nil {
		return err
	}
	name, node, err := memberParams(c)
	if err != nil {
		return err
	}
	g, err := svc.RemoveMember(name, node)
	if err != nil {
		return groupError(err)
	}
	return c.JSON(fiber.Map{"success": true, "message": fmt.Sprintf("node %s removed from group %s", node, name), "group": g})
}
