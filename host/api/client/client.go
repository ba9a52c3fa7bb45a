package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one daemon. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the HTTP client (default: no overall timeout, so
// long uploads and discovery rounds are not cut; use contexts for deadlines).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithToken sends "Authorization: Bearer <token>" on every request.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// New returns a client of the daemon at addr: a URL (http://host:port, with an
// optional path prefix), or host:port / :port without a scheme (http is assumed).
func New(addr string, opts ...Option) (*Client, error) {
	u, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	c := &Client{base: u, http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// ParseAddr reads a daemon address as New does.
func ParseAddr(addr string) (*url.URL, error) {
	s := strings.TrimSpace(addr)
	if s == "" {
		return nil, errors.New("daemon address is empty")
	}
	if !strings.Contains(s, "://") {
		if strings.HasPrefix(s, ":") {
			s = "127.0.0.1" + s
		}
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("daemon address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("daemon address %q: scheme %q, want http or https", addr, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("daemon address %q: no host", addr)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// BaseURL is the daemon's address as the client uses it.
func (c *Client) BaseURL() string { return c.base.String() }

// Error is a non-2xx answer of the API.
type Error struct {
	Method, Path string
	Status       int    // HTTP status code
	Message      string // the body's "error", else the status text
	Body         []byte // the raw body
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// StatusCode returns the HTTP status of an *Error in err's chain, or 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// apiError is the *Error of a non-2xx answer with body raw.
func apiError(method, path string, status int, raw []byte) *Error {
	e := &Error{Method: method, Path: path, Status: status, Body: raw, Message: http.StatusText(status)}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Message = body.Error
	}
	return e
}

// rawSetter is implemented by reply types (through Envelope).
type rawSetter interface{ setRaw(json.RawMessage, int) }

// Envelope is embedded in every reply: the API's success flag, the exact
// body (Raw) and the HTTP status of the answer.
type Envelope struct {
	Success bool            `json:"success"`
	Raw     json.RawMessage `json:"-"`
	Status  int             `json:"-"`
}

func (e *Envelope) setRaw(raw json.RawMessage, status int) { e.Raw, e.Status = raw, status }

// maxReply bounds a JSON reply read into memory.
const maxReply = 64 << 20

// request builds a request for path (which may carry a query) on the daemon.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	u := *c.base
	u.Path = c.base.Path + ref.Path
	u.RawPath = ""
	if ref.RawPath != "" {
		u.RawPath = c.base.Path + ref.RawPath
	}
	u.RawQuery = ref.RawQuery
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// Do sends a request with an optional JSON body (in, marshalled unless it is
// nil) and decodes a 2xx answer into out (a *json.RawMessage gets the body as
// it is; reply types also get Raw and Status). Other answers are an *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	return c.send(req, out)
}

func (c *Client) send(req *http.Request, out any) error {
	method, path := req.Method, req.URL.Path
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: is the daemon running at %s? %w", method, path, c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return apiError(method, path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if rm, ok := out.(*json.RawMessage); ok {
		*rm = append((*rm)[:0], raw...)
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	if s, ok := out.(rawSetter); ok {
		s.setRaw(raw, resp.StatusCode)
	}
	return nil
}

// call is Do returning a fresh reply of type T.
func call[T any](ctx context.Context, c *Client, method, path string, in any) (*T, error) {
	out := new(T)
	if err := c.Do(ctx, method, path, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }

// Health is GET /healthz.
type Health struct {
	Envelope
	Status  string `json:"status"`
	Version string `json:"version"`
}

// Health checks that the daemon answers (no token needed).
func (c *Client) Health(ctx context.Context) (*Health, error) {
	return call[Health](ctx, c, http.MethodGet, "/healthz", nil)
}

// Message is the API's {"success": true, "message": "..."}.
type Message struct {
	Envelope
	Message string `json:"message"`
}

// pollInterval is how often WaitTransfer asks when the caller says nothing.
const pollInterval = 500 * time.Millisecond

// TokenResponse answers POST /api/token/rotate: the daemon's new token,
// shown once.
type TokenResponse struct {
	Envelope
	Token   string `json:"token"`
	Message string `json:"message"`
}

// RotateToken replaces the daemon's own API token; the old one stops
// working at once. The client keeps using the token it was made with: make
// a new client with the new token.
func (c *Client) RotateToken(ctx context.Context) (*TokenResponse, error) {
	return call[TokenResponse](ctx, c, http.MethodPost, "/api/token/rotate", nil)
}
