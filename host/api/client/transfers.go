package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Transfer modes.
const (
	Unicast   = "unicast"
	Multicast = "multicast"
	Broadcast = "broadcast"
)

// TransferModes and TransferStates are the values of schemas TransferMode
// and TransferState.
var (
	TransferModes  = []string{Unicast, Multicast, Broadcast}
	TransferStates = []string{"pending", "running", "completed", "partial", "failed", "cancelled", "interrupted"}
)

// TransferRequest is POST /api/transfers: at most one of Targets, Group and
// Selector; Pick with a Group or Selector.
type TransferRequest struct {
	FileName string    `json:"file_name"`
	Mode     string    `json:"mode"`
	Targets  []string  `json:"targets,omitempty"`
	Group    string    `json:"group,omitempty"`
	Selector *Selector `json:"selector,omitempty"`
	Pick     *Pick     `json:"pick,omitempty"`
	Backend  string    `json:"backend,omitempty"`
}

// TransferFile is the file a transfer sends.
type TransferFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// TransferTarget is one target's result.
type TransferTarget struct {
	NodeID      string     `json:"node_id"`
	Backend     string     `json:"backend,omitempty"`
	State       string     `json:"state"`
	BytesDone   int64      `json:"bytes_done"`
	BytesSent   int64      `json:"bytes_sent,omitempty"`
	BytesReused int64      `json:"bytes_reused,omitempty"`
	SHA256      string     `json:"sha256,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Location    string     `json:"location,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// TransferRecord is one transfer.
type TransferRecord struct {
	ID         string           `json:"id"`
	State      string           `json:"state"`
	Mode       string           `json:"mode"`
	Backend    string           `json:"backend"`
	Attempts   int              `json:"attempts,omitempty"`
	File       TransferFile     `json:"file"`
	Targets    []TransferTarget `json:"targets"`
	Error      string           `json:"error,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	StartedAt  *time.Time       `json:"started_at,omitempty"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
}

// Ended reports whether the transfer reached a final state.
func (r *TransferRecord) Ended() bool { return TransferStateEnded(r.State) }

// TransferStateEnded reports whether a transfer or target state is final.
func TransferStateEnded(state string) bool {
	switch state {
	case "pending", "running", "":
		return false
	}
	return true
}

// Skipped names the group members a transfer did not send to.
type Skipped struct {
	Missing  []string `json:"missing,omitempty"`
	Inactive []string `json:"inactive,omitempty"`
}

// TransferResponse is one transfer (POST, GET, retry).
type TransferResponse struct {
	Envelope
	Transfer TransferRecord `json:"transfer"`
	Chosen   []Choice       `json:"chosen,omitempty"`
	Skipped  *Skipped       `json:"skipped,omitempty"`
}

// TransferList is GET /api/transfers.
type TransferList struct {
	Envelope
	Transfers []TransferRecord `json:"transfers"`
	Count     int              `json:"count"`
	Total     int              `json:"total"`
}

// TransferFilter narrows and pages GET /api/transfers.
type TransferFilter struct {
	State         string
	Limit, Offset int
}

// StartTransfer starts a transfer; it runs in the background (202).
func (c *Client) StartTransfer(ctx context.Context, req TransferRequest) (*TransferResponse, error) {
	return call[TransferResponse](ctx, c, http.MethodPost, "/api/transfers", req)
}

// Transfers lists transfers, newest first.
func (c *Client) Transfers(ctx context.Context, f TransferFilter) (*TransferList, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	path := "/api/transfers"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return call[TransferList](ctx, c, http.MethodGet, path, nil)
}

// Transfer gets one transfer.
func (c *Client) Transfer(ctx context.Context, id string) (*TransferResponse, error) {
	return call[TransferResponse](ctx, c, http.MethodGet, "/api/transfers/"+esc(id), nil)
}

// CancelTransfer cancels a running transfer (Status 202) or deletes an
// ended one's record (Status 200).
func (c *Client) CancelTransfer(ctx context.Context, id string) (*Message, error) {
	return call[Message](ctx, c, http.MethodDelete, "/api/transfers/"+esc(id), nil)
}

// RetryTransfer runs again the targets of an ended transfer that did not
// complete.
func (c *Client) RetryTransfer(ctx context.Context, id string) (*TransferResponse, error) {
	return call[TransferResponse](ctx, c, http.MethodPost, "/api/transfers/"+esc(id)+"/retry", nil)
}

// WaitTransfer polls a transfer every interval (500 ms when 0), calling
// update (when set) with each record, until it ends or ctx is done. It
// returns the last answer.
func (c *Client) WaitTransfer(ctx context.Context, id string, interval time.Duration, update func(*TransferResponse)) (*TransferResponse, error) {
	if interval <= 0 {
		interval = pollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r, err := c.Transfer(ctx, id)
		if err != nil {
			return nil, err
		}
		if update != nil {
			update(r)
		}
		if r.Transfer.Ended() {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("wait for transfer %s: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}
