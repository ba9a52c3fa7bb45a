package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/discovery"
)

// Discovery is what the API needs of the discovery manager.
type Discovery interface {
	Discover(ctx context.Context, req discovery.Request) (*discovery.Result, error)
	Last() *discovery.Result
}

// discoverRequest is the optional body of POST /api/cluster/discover-external.
type discoverRequest struct {
	discovery.Request
	// Connect (default true, like the seed's "discover and connect")
	// connects to every active cluster found; false discovers only.
	Connect *bool `json:"connect,omitempty"`
	// IncludeStale lists the inactive clusters too (stale session folders
	// of stopped Ray instances: every `ray start` leaves one).
	IncludeStale bool `json:"include_stale,omitempty"`
}

// discoveredCluster is one entry of discovered_clusters: the seed's fields
// (source, dashboard_url, nodes, resources, status) and CastRay's.
type discoveredCluster struct {
	Source string `json:"source"`
	discovery.Cluster
}

// discoverResponse keeps the seed's field names.
type discoverResponse struct {
	Success            bool                    `json:"success"`
	DiscoveredClusters []discoveredCluster     `json:"discovered_clusters"`
	ConnectedCluster   *string                 `json:"connected_cluster"`
	ExternalNodes      map[string]externalNode `json:"external_nodes"`
	Error              *string                 `json:"error"`
	Discovery          *discovery.Result       `json:"discovery"`
	// Connections reports each connection attempt of this round.
	Connections []connectOutcome `json:"connections"`
	// StaleHidden counts the inactive clusters left out of the lists
	// (include_stale shows them).
	StaleHidden int `json:"stale_hidden"`
}

// connectOutcome is what connecting to one discovered cluster gave.
type connectOutcome struct {
	DiscoveredID string              `json:"discovered_id"`
	Address      string              `json:"address"`
	Success      bool                `json:"success"`
	ClusterID    string              `json:"cluster_id,omitempty"`
	Error        string              `json:"error,omitempty"`
	Attempts     []connector.Attempt `json:"attempts,omitempty"`
}

// newDiscoverResponse shapes a round's result; without includeStale the
// inactive clusters are counted, not listed (in discovered_clusters and
// discovery.clusters alike).
func newDiscoverResponse(res *discovery.Result, includeStale bool) discoverResponse {
	hidden := 0
	if !includeStale {
		shown := *res
		shown.Clusters = make([]discovery.Cluster, 0, len(res.Clusters))
		for _, cl := range res.Clusters {
			if cl.Status != "inactive" {
				shown.Clusters = append(shown.Clusters, cl)
			}
		}
		hidden, res = len(res.Clusters)-len(shown.Clusters), &shown
	}
	out := discoverResponse{Success: true, DiscoveredClusters: []discoveredCluster{}, ExternalNodes: map[string]externalNode{},
		Discovery: res, Connections: []connectOutcome{}, StaleHidden: hidden}
	for _, cl := range res.Clusters {
		src := ""
		if len(cl.Sources) > 0 {
			src = cl.Sources[0]
		}
		out.DiscoveredClusters = append(out.DiscoveredClusters, discoveredCluster{Source: src, Cluster: cl})
	}
	return out
}

func (s *Server) discoverExternal(c *fiber.Ctx) error {
	var req discoverRequest
	if len(c.Body()) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	if req.TimeoutMS > 120_000 {
		return fiber.NewError(fiber.StatusBadRequest, "timeout_ms must be at most 120000")
	}
	// The round is bounded by the plugins' deadlines; the request context
	// is not used so that a client hanging up does not cut a round short
	// for the others waiting on it.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	res, err := s.d.Discovery.Discover(ctx, req.Request)
	var scope *discovery.ScopeError
	switch {
	case errors.As(err, &scope) && scope.Forbidden:
		return fiber.NewError(fiber.StatusForbidden, err.Error())
	case errors.Is(err, discovery.ErrNoPlugins):
		return fiber.NewError(fiber.StatusServiceUnavailable, err.Error()+": enable one in the configuration (plugin \"<name>\" { enabled = true })")
	case err != nil:
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	connect := req.Connect == nil || *req.Connect
	if q := c.Query("connect"); q != "" {
		connect = q != "false" && q != "0"
	}
	stale, err := includeStale(c, req.IncludeStale)
	if err != nil {
		return err
	}
	out := newDiscoverResponse(res, stale)
	if connect {
		s.connectDiscovered(ctx, &out)
	}
	return c.JSON(out)
}

// connectDiscovered connects to every active cluster of a round (through its
// dashboard when one was found, else its GCS) and fills the seed's
// connected_cluster, external_nodes and error; success turns false when
// every connection failed.
func (s *Server) connectDiscovered(ctx context.Context, out *discoverResponse) {
	var errs []string
	for _, cl := range out.DiscoveredClusters {
		if cl.Status != "active" {
			continue
		}
		addr := cl.DashboardURL
		if addr == "" {
			addr = cl.GCSAddress
		}
		if addr == "" {
			continue
		}
		oc := connectOutcome{DiscoveredID: cl.ID, Address: addr}
		conn, _, err := s.d.Connections.Connect(ctx, addr)
		if err != nil {
			oc.Error = err.Error()
			var de *connector.DialError
			if errors.As(err, &de) {
				oc.Attempts = de.Attempts
			}
			errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
		} else {
			oc.Success, oc.ClusterID = true, conn.ID
			if out.ConnectedCluster == nil {
				a := conn.Address
				out.ConnectedCluster = &a
			}
			for id, n := range s.externalNodeMap(conn.ID) {
				out.ExternalNodes[id] = n
			}
		}
		out.Connections = append(out.Connections, oc)
	}
	if len(errs) > 0 {
		msg := strings.Join(errs, "; ")
		out.Error = &msg
		// Connecting was asked and nothing connected: the round is not a
		// success, whatever it discovered (still in the reply).
		out.Success = out.ConnectedCluster != nil
	}
}

func (s *Server) lastDiscovery(c *fiber.Ctx) error {
	res := s.d.Discovery.Last()
	if res == nil {
		return fiber.NewError(fiber.StatusNotFound, "no discovery has run yet: POST /api/cluster/discover-external")
	}
	stale, err := includeStale(c, false)
	if err != nil {
		return err
	}
	return c.JSON(newDiscoverResponse(res, stale))
}

// includeStale is ?include_stale= when given, else def.
func includeStale(c *fiber.Ctx, def bool) (bool, error) {
	if c.Query("include_stale") == "" {
		return def, nil
	}
	return queryBool(c, "include_stale")
}
