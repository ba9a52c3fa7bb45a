package client

import (
	"context"
	"net/http"
	"time"
)

// Group is a named multicast group: a list of node ids or a selector.
type Group struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"` // list or selector
	Members   []string  `json:"members,omitempty"`
	Selector  *Selector `json:"selector,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// GroupResolution is what a group stands for now.
type GroupResolution struct {
	Group    string   `json:"group"`
	Type     string   `json:"type"`
	NodeIDs  []string `json:"node_ids"`
	Missing  []string `json:"missing,omitempty"`
	Inactive []string `json:"inactive,omitempty"`
}

// GroupList is GET /api/groups.
type GroupList struct {
	Envelope
	Groups []Group `json:"groups"`
	Count  int     `json:"count"`
}

// GroupResponse is a group with its resolution (GET, POST).
type GroupResponse struct {
	Envelope
	Message  string          `json:"message,omitempty"`
	Group    Group           `json:"group"`
	Resolved GroupResolution `json:"resolved"`
}

// GroupMemberResponse answers adding or removing a member.
type GroupMemberResponse struct {
	Envelope
	Message string `json:"message"`
	Added   bool   `json:"added,omitempty"`
	Group   Group  `json:"group"`
}

// CreateGroupRequest names exactly one of Members and Selector. A nil
// Members with a nil Selector is an empty list group.
type CreateGroupRequest struct {
	Name     string    `json:"name"`
	Members  []string  `json:"members,omitempty"`
	Selector *Selector `json:"selector,omitempty"`
}

// Groups lists the groups.
func (c *Client) Groups(ctx context.Context) (*GroupList, error) {
	return call[GroupList](ctx, c, http.MethodGet, "/api/groups", nil)
}

// Group gets one group and its resolution.
func (c *Client) Group(ctx context.Context, name string) (*GroupResponse, error) {
	return call[GroupResponse](ctx, c, http.MethodGet, "/api/groups/"+esc(name), nil)
}

// CreateGroup creates a group.
func (c *Client) CreateGroup(ctx context.Context, req CreateGroupRequest) (*GroupResponse, error) {
	body := map[string]any{"name": req.Name}
	switch {
	case req.Selector != nil:
		body["selector"] = req.Selector
	case req.Members != nil:
		body["members"] = req.Members
	default:
		body["members"] = []string{}
	}
	return call[GroupResponse](ctx, c, http.MethodPost, "/api/groups", body)
}

// DeleteGroup deletes a group (its nodes are not touched).
func (c *Client) DeleteGroup(ctx context.Context, name string) (*Message, error) {
	return call[Message](ctx, c, http.MethodDelete, "/api/groups/"+esc(name), nil)
}

// AddGroupMember adds an existing node to a list group.
func (c *Client) AddGroupMember(ctx context.Context, group, nodeID string) (*GroupMemberResponse, error) {
	return call[GroupMemberResponse](ctx, c, http.MethodPut, "/api/groups/"+esc(group)+"/members/"+esc(nodeID), nil)
}

// RemoveGroupMember removes a node from a list group.
func (c *Client) RemoveGroupMember(ctx context.Context, group, nodeID string) (*GroupMemberResponse, error) {
	return call[GroupMemberResponse](ctx, c, http.MethodDelete, "/api/groups/"+esc(group)+"/members/"+esc(nodeID), nil)
}
