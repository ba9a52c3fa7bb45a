package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/registry"
)

// Connections is what the API needs of the cluster connector.
type Connections interface {
	Connect(ctx context.Context, address string) (connector.Cluster, bool, error)
	Disconnect(id string) (connector.Cluster, error)
	DisconnectAll() []connector.Cluster
	Clusters() []connector.Cluster
}

// externalNode is the seed's shape of an external node, plus CastRay's
// richer fields.
type externalNode struct {
	ID            string             `json:"id"`
	Address       string             `json:"address"`
	Status        registry.State     `json:"status"`
	Type          string             `json:"type"` // always "external"
	ClusterSource string             `json:"cluster_source"`
	LastSeen      time.Time          `json:"last_seen"`
	Kind          registry.Kind      `json:"kind"`
	Name          string             `json:"name,omitempty"`
	ClusterID     string             `json:"cluster_id"`
	Hostname      string             `json:"hostname,omitempty"`
	IsHead        bool               `json:"is_head,omitempty"`
	Resources     map[string]float64 `json:"resources,omitempty"`
	Available     map[string]float64 `json:"available,omitempty"`
	Labels        map[string]string  `json:"labels,omitempty"`
}

// externalNodes lists the external virtual nodes, optionally of one cluster.
func (s *Server) externalNodes(clusterID string) []externalNode {
	sources := map[string]string{}
	for _, c := range s.d.Connections.Clusters() {
		sources[c.ID] = c.Address
	}
	out := []externalNode{}
	for _, n := range s.d.Registry.List(registry.Filter{ClusterID: clusterID}) {
		if n.Kind == registry.KindLocal {
			continue
		}
		out = append(out, externalNode{
			ID: n.ID, Address: n.Address, Status: n.State, Type: "external", ClusterSource: sources[n.ClusterID],
			LastSeen: n.LastSeen, Kind: n.Kind, Name: n.Name, ClusterID: n.ClusterID, Hostname: n.Hostname,
			IsHead: n.IsHead, Resources: n.Resources, Available: n.Available, Labels: n.Labels,
		})
	}
	return out
}

// externalNodeMap is the seed's external_nodes object, keyed by node id.
func (s *Server) externalNodeMap(clusterID string) map[string]externalNode {
	out := map[string]externalNode{}
	for _, n := range s.externalNodes(clusterID) {
		out[n.ID] = n
	}
	return out
}

type connectRequest struct {
	ClusterAddress string `json:"cluster_address"`
}

// connectError answers a failed connection: 400 for an address that cannot
// be parsed, 504 when the timeout ran out, 502 otherwise, each with every
// attempt made.
func connectError(c *fiber.Ctx, err error) error {
	var ae *connector.AddressError
	if errors.As(err, &ae) {
		return fiber.NewError(fiber.StatusBadRequest, "cluster_address: "+ae.Error())
	}
	var de *connector.DialError
	if errors.As(err, &de) {
		code := fiber.StatusBadGateway
		if de.Timeout {
			code = fiber.StatusGatewayTimeout
		}
		return c.Status(code).JSON(fiber.Map{"success": false, "error": de.Error(), "message": de.Error(), "attempts": de.Attempts})
	}
	return err
}

func (s *Server) connectExternal(c *fiber.Ctx) error {
	var req connectRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.ClusterAddress == "" {
		return fiber.NewError(fiber.StatusBadRequest, "cluster_address is required, e.g. \"127.0.0.1:8265\" or \"http://host:8265\"")
	}
	cl, created, err := s.d.Connections.Connect(c.UserContext(), req.ClusterAddress)
	if err != nil {
		return connectError(c, err)
	}
	msg := fmt.Sprintf("connected to Ray cluster %s at %s via %s: %d nodes, %d actors", cl.ID, cl.Address, cl.Via, cl.AliveNodes, cl.Actors)
	if !created {
		msg = fmt.Sprintf("already connected to Ray cluster %s (%s)", cl.ID, cl.Address)
	}
	return c.JSON(fiber.Map{"success": true, "message": msg, "cluster": cl, "external_nodes": s.externalNodeMap(cl.ID)})
}

func (s *Server) disconnectExternal(c *fiber.Ctx) error {
	id := c.Query("cluster_id")
	if len(c.Body()) > 0 {
		var req struct {
			ClusterID string `json:"cluster_id"`
		}
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		if req.ClusterID != "" {
			id = req.ClusterID
		}
	}
	if id != "" {
		cl, err := s.d.Connections.Disconnect(id)
		if errors.Is(err, connector.ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no connected cluster %q", id))
		}
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"success": true, "message": "disconnected from " + cl.ID, "disconnected": []connector.Cluster{cl}})
	}
	gone := s.d.Connections.DisconnectAll()
	msg := fmt.Sprintf("disconnected from %d cluster(s); external nodes cleared", len(gone))
	if len(gone) == 0 {
		msg = "no external cluster was connected"
	}
	if gone == nil {
		gone = []connector.Cluster{}
	}
	return c.JSON(fiber.Map{"success": true, "message": msg, "disconnected": gone})
}

// connectedCluster is the seed's connected_cluster: the address of the
// first connected cluster, or null.
func connectedCluster(clusters []connector.Cluster) *string {
	for _, cl := range clusters {
		if cl.State == connector.StateConnected {
			addr := cl.Address
			return &addr
		}
	}
	return nil
}

func (s *Server) externalInfo(c *fiber.Ctx) error {
	clusters := s.d.Connections.Clusters()
	return c.JSON(fiber.Map{
		"success": true, "is_connected": connectedCluster(clusters) != nil, "connected_cluster": connectedCluster(clusters),
		"external_nodes": s.externalNodeMap(""), "clusters": clusters,
	})
}

func (s *Server) listExternalNodes(c *fiber.Ctx) error {
	nodes := s.externalNodes(c.Query("cluster"))
	return c.JSON(fiber.Map{"success": true, "external_nodes": nodes, "count": len(nodes)})
}

func (s *Server) listClusters(c *fiber.Ctx) error {
	clusters := s.d.Connections.Clusters()
	return c.JSON(fiber.Map{"success": true, "clusters": clusters, "count": len(clusters)})
}
