package ray

import (
	"errors"
	"fmt"
)

var (
	// ErrAuth: the server wants a token and got none, or a wrong one
	// (dashboard HTTP 401/403, gRPC UNAUTHENTICATED). The wrapping error
	// says which; it never contains the token.
	ErrAuth = errors.New("ray auth token missing or rejected")
	// ErrNotRay: what answered is not the Ray component asked for.
	ErrNotRay = errors.New("not a Ray endpoint")
	// ErrNotFound: a GCS KV key or a dashboard resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTruncated is matched by *TruncatedError.
	ErrTruncated = errors.New("listing truncated")
)

// TruncatedError says a State API listing returned fewer rows than the
// cluster has (the State API caps limit at 10000). It is returned together
// with the rows that were returned, so the caller decides whether a partial
// list is good enough; it is never dropped silently.
type TruncatedError struct {
	What     string // "nodes" or "actors"
	Returned int
	Total    int
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%s listing truncated: %d of %d returned (State API limit)", e.What, e.Returned, e.Total)
}

// Is makes errors.Is(err, ErrTruncated) true.
func (e *TruncatedError) Is(target error) bool { return target == ErrTruncated }

// StatusError is a non-OK GcsStatus in a GCS reply, or a dashboard answer
// with "result": false.
type StatusError struct {
	Method  string
	Code    int32 // Ray's StatusCode for the GCS; the HTTP status for the dashboard
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.Method, e.Code, clip(e.Message))
}
