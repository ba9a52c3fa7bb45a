package api

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

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
	// Connect asks to connect to what is found; connecting arrives with the
	// cluster connection feature, until then discovery alone is done.
	Connect *bool `json:"connect,omitempty"`
}

// discoveredCluster is one entry of discovered_clusters: the seed's fields
// (source, dashboard_url, nodes, resources, status) and CastRay's.
type discoveredCluster struct {
	Source string `json:"source"`
	discovery.Cluster
}

// discoverResponse keeps the seed's field names.
type discoverResponse struct {
	Success            bool                `json:"success"`
	DiscoveredClusters []discoveredCluster `json:"discovered_clusters"`
	ConnectedCluster   *string             `json:"connected_cluster"`
	ExternalNodes      map[string]any      `json:"external_nodes"`
	Error              *string             `json:"error"`
	Discovery          *discovery.Result   `json:"discovery"`
}

func newDiscoverResponse(res *discovery.Result) discoverResponse {
	out := discoverResponse{Success: true, DiscoveredClusters: []discoveredCluster{}, ExternalNodes: map[string]any{}, Discovery: res}
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
	switch {
	case errors.Is(err, discovery.ErrNoPlugins):
		return fiber.NewError(fiber.StatusServiceUnavailable, err.Error()+": enable one in the configuration (plugin \"<name>\" { enabled = true })")
	case err != nil:
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	return c.JSON(newDiscoverResponse(res))
}

func (s *Server) lastDiscovery(c *fiber.Ctx) error {
	res := s.d.Discovery.Last()
	if res == nil {
		return fiber.NewError(fiber.StatusNotFound, "no discovery has run yet: POST /api/cluster/discover-external")
	}
	return c.JSON(newDiscoverResponse(res))
}
