package client

import (
	"context"
	"net/http"
	"time"
)

// DistributionNodeStatus is one node of a distribution.
type DistributionNodeStatus struct {
	NodeID      string     `json:"node_id"`
	Status      string     `json:"status"` // pending, delivering, present, failed
	NodeState   string     `json:"node_state"`
	TransferID  string     `json:"transfer_id,omitempty"`
	SHA256      string     `json:"sha256,omitempty"`
	Location    string     `json:"location,omitempty"`
	Error       string     `json:"error,omitempty"`
	Attempts    int        `json:"attempts"`
	Failures    int        `json:"failures,omitempty"`
	NextRetryAt *time.Time `json:"next_retry_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// DistributionCounts counts a distribution's nodes by status.
type DistributionCounts struct {
	Total      int `json:"total"`
	Pending    int `json:"pending"`
	Delivering int `json:"delivering"`
	Present    int `json:"present"`
	Failed     int `json:"failed"`
}

// Distribution keeps a file on every node a selector matches.
type Distribution struct {
	ID        string                   `json:"id"`
	Name      string                   `json:"name,omitempty"`
	FileName  string                   `json:"file_name"`
	Selector  Selector                 `json:"selector"`
	State     string                   `json:"state"`
	SHA256    string                   `json:"sha256,omitempty"`
	Error     string                   `json:"error,omitempty"`
	Satisfied bool                     `json:"satisfied"`
	Counts    DistributionCounts       `json:"counts"`
	Nodes     []DistributionNodeStatus `json:"nodes"`
	CreatedAt time.Time                `json:"created_at"`
	UpdatedAt time.Time                `json:"updated_at"`
}

// DistributionList is GET /api/distributions.
type DistributionList struct {
	Envelope
	Distributions []Distribution `json:"distributions"`
	Count         int            `json:"count"`
}

// DistributionResponse is one distribution.
type DistributionResponse struct {
	Envelope
	Message      string       `json:"message,omitempty"`
	Distribution Distribution `json:"distribution"`
}

// CreateDistributionRequest is POST /api/distributions.
type CreateDistributionRequest struct {
	FileName string   `json:"file_name"`
	Selector Selector `json:"selector"`
	Name     string   `json:"name,omitempty"`
}

// Distributions lists the standing distributions.
func (c *Client) Distributions(ctx context.Context) (*DistributionList, error) {
	return call[DistributionList](ctx, c, http.MethodGet, "/api/distributions", nil)
}

// Distribution gets one distribution.
func (c *Client) Distribution(ctx context.Context, id string) (*DistributionResponse, error) {
	return call[DistributionResponse](ctx, c, http.MethodGet, "/api/distributions/"+esc(id), nil)
}

// CreateDistribution creates a distribution (201).
func (c *Client) CreateDistribution(ctx context.Context, req CreateDistributionRequest) (*DistributionResponse, error) {
	return call[DistributionResponse](ctx, c, http.MethodPost, "/api/distributions", req)
}

// DeleteDistribution stops a distribution; delivered files stay.
func (c *Client) DeleteDistribution(ctx context.Context, id string) (*DistributionResponse, error) {
	return call[DistributionResponse](ctx, c, http.MethodDelete, "/api/distributions/"+esc(id), nil)
}
