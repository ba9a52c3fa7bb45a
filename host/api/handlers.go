package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/selector"
)

// StatusReport is GET /api/status: the original's fields, counting local
// and external nodes alike.
type StatusReport struct {
	TotalNodes   int          `json:"total_nodes"`
	ActiveNodes  int          `json:"active_nodes"`
	NodeStatuses []NodeStatus `json:"node_statuses"`
	// NodeStatusesOmitted counts the nodes a /ws status leaves out of
	// NodeStatuses and NodePorts (events.status_nodes).
	NodeStatusesOmitted int            `json:"node_statuses_omitted,omitempty"`
	RayCluster          RayCluster     `json:"ray_cluster"`
	NodePorts           map[string]int `json:"node_ports"`
	Plugins             PluginCounts   `json:"plugins"`
	Version             string         `json:"version"`
	UptimeSeconds       float64        `json:"uptime_seconds"`
}

// NodeStatus is one entry of node_statuses.
type NodeStatus struct {
	NodeID    string             `json:"node_id"`
	IsRunning bool               `json:"is_running"`
	NodeType  string             `json:"node_type"` // "local" or "external", as in the original
	Kind      registry.Kind      `json:"kind"`
	State     registry.State     `json:"state"`
	Address   string             `json:"address,omitempty"`
	Port      int                `json:"port,omitempty"`
	ClusterID string             `json:"cluster_id,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
	LastSeen  time.Time          `json:"last_seen"`
}

// RayCluster summarises the Ray resources CastRay sees (external clusters).
type RayCluster struct {
	Connected          bool               `json:"connected"`
	ClusterResources   map[string]float64 `json:"cluster_resources"`
	AvailableResources map[string]float64 `json:"available_resources"`
	Nodes              int                `json:"nodes"`
}

// PluginCounts summarises plugin health.
type PluginCounts struct {
	Total   int `json:"total"`
	Healthy int `json:"healthy"`
}

// Status builds the status report of GET /api/status, every node listed.
func (s *Server) Status() StatusReport { return s.status(-1) }

// WSStatus is the status report of the /ws snapshot and status_update: it
// lists the nodes one by one only up to events.status_nodes of them, since
// every client gets it every few seconds (100,000 nodes are tens of MB).
func (s *Server) WSStatus() StatusReport { return s.status(s.d.StatusNodes) }

// status builds the status report, listing the nodes one by one unless
// there are more than limit (limit < 0: no limit). Above the limit the
// counts and sums are taken without copying the nodes.
func (s *Server) status(limit int) StatusReport {
	rep := StatusReport{
		NodeStatuses: []NodeStatus{},
		NodePorts:    map[string]int{},
		RayCluster:   RayCluster{ClusterResources: map[string]float64{}, AvailableResources: map[string]float64{}},
		Version:      s.d.Version,
	}
	if !s.d.Started.IsZero() {
		rep.UptimeSeconds = time.Since(s.d.Started).Seconds()
	}
	s.d.Registry.Visit(func(n *registry.Node, res, avail []registry.Quantity) {
		rep.TotalNodes++
		if n.State != registry.StateActive {
			return
		}
		rep.ActiveNodes++
		if n.Kind == registry.KindRayNode {
			rep.RayCluster.Connected = true
			rep.RayCluster.Nodes++
			for _, q := range res {
				rep.RayCluster.ClusterResources[q.Name] += q.Value
			}
			for _, q := range avail {
				rep.RayCluster.AvailableResources[q.Name] += q.Value
			}
		}
	})
	if limit >= 0 && rep.TotalNodes > limit {
		rep.NodeStatusesOmitted = rep.TotalNodes
	} else {
		for _, n := range s.d.Registry.List(registry.Filter{}) {
			typ := "local"
			if n.Kind != registry.KindLocal {
				typ = "external"
			}
			rep.NodeStatuses = append(rep.NodeStatuses, NodeStatus{
				NodeID: n.ID, IsRunning: n.State == registry.StateActive, NodeType: typ, Kind: n.Kind, State: n.State,
				Address: n.Address, Port: n.Port, ClusterID: n.ClusterID, Resources: n.Resources, LastSeen: n.LastSeen,
			})
			if n.Port != 0 {
				rep.NodePorts[n.ID] = n.Port
			}
		}
	}
	for _, p := range s.d.Plugins.List() {
		rep.Plugins.Total++
		if p.State == "healthy" {
			rep.Plugins.Healthy++
		}
	}
	return rep
}

func (s *Server) getStatus(c *fiber.Ctx) error { return c.JSON(s.Status()) }

func (s *Server) listNodes(c *fiber.Ctx) error {
	f := registry.Filter{Kind: registry.Kind(c.Query("kind")), ClusterID: c.Query("cluster"), State: registry.State(c.Query("state"))}
	if f.Kind != "" && !slices.Contains(selector.Kinds, f.Kind) {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("kind %q is not a node kind (one of %v)", f.Kind, selector.Kinds))
	}
	if f.State != "" && !slices.Contains(selector.States, f.State) {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("state %q is not a node state (one of %v)", f.State, selector.States))
	}
	sendNodes(c, s.d.Registry.ListLazy(f))
	return nil
}

// sendNodes answers {"count":N,"nodes":[...],"success":true} (c.JSON's
// answer for that fiber.Map), making and encoding one node at a time while
// the body is written: a listing of 100,000 nodes never holds their maps
// or its 60 MB of JSON at once.
func sendNodes(c *fiber.Ctx, nodes *registry.Listing) {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		fmt.Fprintf(w, `{"count":%d,"nodes":[`, nodes.Len())
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for i := range nodes.Len() {
			buf.Reset()
			n := nodes.At(i)
			if err := enc.Encode(&n); err != nil {
				return // cannot happen (no NaN comes from JSON); a cut body tells the client
			}
			if i > 0 {
				w.WriteByte(',')
			}
			w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		}
		w.WriteString(`],"success":true}`)
	})
}

type createNodeRequest struct {
	NodeID string `json:"node_id"`
	Port   int    `json:"port"`
}

func (s *Server) createNode(c *fiber.Ctx) error {
	var req createNodeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.NodeID == "" {
		return fiber.NewError(fiber.StatusBadRequest, "node_id is required")
	}
	if req.NodeID == "external" {
		return fiber.NewError(fiber.StatusBadRequest, `node_id "external" is reserved (GET /api/nodes/external lists external nodes)`)
	}
	if req.Port < 0 || req.Port > 65535 {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("port must be between 0 and 65535, got %d", req.Port))
	}
	n, err := s.d.Registry.AddLocal(req.NodeID, req.Port, s.d.InboxRoot)
	switch {
	case errors.Is(err, registry.ErrInvalidID):
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	case errors.Is(err, registry.ErrExists):
		return fiber.NewError(fiber.StatusConflict, err.Error())
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"success": true, "message": fmt.Sprintf("node %s created", n.ID), "node": n})
}

func (s *Server) getNode(c *fiber.Ctx) error {
	n, err := s.nodeParam(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"success": true, "node": n})
}
