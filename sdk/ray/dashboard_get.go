package ray

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// One GET to a Ray dashboard, as CastRay sends it: the Dashboard client's
// requests and the one-off probes of callers that need the raw status (a
// scanner telling a token-mode dashboard's 401 from a web server's).

// errorBody bounds the body kept of an answer other than 200 (for
// messages; Ray's error answers are a line or an envelope with a msg).
const errorBody = 64 << 10

// Answer is what one GET got back, whatever its status.
type Answer struct {
	// Status is the HTTP status code.
	Status int
	// Body is the body: at most the request's limit for a 200 answer, and
	// the first 64 KiB of any other.
	Body []byte
	// Took is how long the request took, connecting included.
	Took time.Duration
}

// GetOptions are the knobs of Get.
type GetOptions struct {
	// Token, when not empty, is sent as "Authorization: Bearer <token>".
	// The caller decides which servers get it (a scanner: only those
	// that announced token auth).
	Token string
	// Timeout bounds the whole request, connecting to reading the body
	// (0: only ctx bounds it).
	Timeout time.Duration
	// Limit bounds a 200 body (0: 1 MiB); a larger one is an error.
	Limit int64
	// Buf, when its capacity holds a body of the declared length, is read
	// into instead of a new buffer (Answer.Body then shares it).
	Buf []byte
	// UserAgent is sent as the User-Agent ("": "castray/" + Version).
	// Never a browser's: Ray answers POST/PUT from a "Mozilla" User-Agent
	// with 405.
	UserAgent string
}

// defaultClient serves Get without a client of the caller's: no proxy (a
// token must not reach one, nor a probe of a local address go through
// one), no redirect, no connection kept.
var defaultClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Get sends one GET of rawURL through c (nil: a client with no proxy,
// no redirect and no connection reuse, for one-off probes) and returns
// the answer whatever its status: a 401 or a 404 is an Answer, which
// Answer.Err turns into CastRay's errors when the caller wants one.
//
// err is set when no answer came (the connection refused: IsRefused; a
// timeout: IsTimeout; ctx ended: its error), when the body could not be
// read, or when a 200 body exceeds the limit (the Answer is returned too,
// its body cut at the limit). err names neither the URL (the caller does,
// as much of it as it wants shown) nor the token.
func Get(ctx context.Context, c *http.Client, rawURL string, o GetOptions) (Answer, error) {
	if c == nil {
		c = defaultClient
	}
	limit := o.Limit
	if limit <= 0 {
		limit = smallBody
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "castray/" + Version
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Answer{}, scrubURLError(err)
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "application/json")
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return Answer{Took: time.Since(start)}, scrubURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		limit = errorBody
	}
	body, err := readBody(resp, limit, o.Buf)
	a := Answer{Status: resp.StatusCode, Body: body, Took: time.Since(start)}
	if err != nil {
		return a, fmt.Errorf("reading body: %w", scrubURLError(err))
	}
	if int64(len(body)) > limit {
		a.Body = body[:limit]
		if resp.StatusCode == http.StatusOK {
			return a, fmt.Errorf("body larger than %d bytes", limit)
		}
	}
	return a, nil
}

// Err is nil for a 200 answer and otherwise CastRay's error for its
// status: 401 and 403 match ErrAuth, 404 ErrNotFound, any other status is
// a *StatusError carrying Ray's msg (or the clipped body). what names the
// request in the message ("GET http://h:8265/api/version"); tokenSent
// says whether a token went with it (a 401 then means it was not
// accepted). The message never holds the token.
func (a Answer) Err(what string, tokenSent bool) error {
	switch a.Status {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		state := "no token was given"
		if tokenSent {
			state = "the token was not accepted"
		}
		return fmt.Errorf("%w: %s → 401 (token auth is on and %s): %s", ErrAuth, what, state, clip(string(a.Body)))
	case http.StatusForbidden:
		return fmt.Errorf("%w: %s → 403 (the token was rejected): %s", ErrAuth, what, clip(string(a.Body)))
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s → 404", ErrNotFound, what)
	}
	return &StatusError{Method: what, Code: int32(a.Status), Message: dashboardMessage(a.Body)}
}

// IsRefused reports whether err (from Get) is a refused connection:
// nothing listens there.
func IsRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// IsTimeout reports whether err (from Get) is a timeout: connecting, the
// TLS handshake or the request's own Timeout. A cancelled ctx is not one.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// dashboardMessage is the "msg" of an envelope, else the body, clipped.
func dashboardMessage(body []byte) string {
	if _, err := parseEnvelope("", body); err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			return se.Message
		}
	}
	return clip(string(body))
}

// scrubURLError drops the *url.Error wrapper (its "Get \"<url>\": "
// prefix): the caller names the URL.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readBody reads at most limit+1 bytes of resp's body, into buf when it is
// large enough. A declared length sizes the buffer up front: a listing of 10,000 nodes is megabytes, and
// growing a buffer to it by doubling copies it again and again.
func readBody(resp *http.Response, limit int64, buf []byte) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit+1)
	if n := resp.ContentLength; n > 0 && n <= limit {
		if int64(cap(buf)) < n+1 {
			buf = make([]byte, 0, n+1) // +1: io.ReadAll-like EOF detection without a regrowth
		}
		buf = buf[:0]
		for {
			m, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if err == io.EOF {
				return buf, nil
			}
			if err != nil {
				return buf, err
			}
			if len(buf) == cap(buf) {
				// More than declared: carry on as io.ReadAll would.
				rest, err := io.ReadAll(r)
				return append(buf, rest...), err
			}
		}
	}
	return io.ReadAll(r)
}
