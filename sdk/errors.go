package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error kinds. An error from a plugin keeps its kind across the wire, so the
// daemon can tell bad input from a broken backend with errors.Is. A plugin
// marks an error with a kind either with a helper,
//
//	return nil, sdk.InvalidArgument(fmt.Errorf("port %d out of range", p))
//
// or by wrapping the kind itself,
//
//	return nil, fmt.Errorf("port %d out of range: %w", p, sdk.ErrInvalidArgument)
//
// On the wire each kind is a gRPC status code, the message being the
// error's text: invalid argument is codes.InvalidArgument, unsupported
// codes.Unimplemented, unavailable codes.Unavailable, internal
// codes.Internal. An error with no kind travels as codes.Unknown and is
// internal on the daemon's side; a context's cancellation or deadline
// travels as codes.Canceled or codes.DeadlineExceeded and comes back as
// context.Canceled or context.DeadlineExceeded.
//
// On the daemon's side the error reads as the call and the plugin's message
// ("Configure: invalid argument: port 70000 out of range"); the kind's text
// is added only when the message does not already contain it, and never for
// internal, the kind every unmarked error has.
var (
	// ErrInvalidArgument: the request itself is wrong (a bad address, a
	// target the backend cannot reach by its nature, a malformed field).
	// Retrying the same request will fail the same way; the daemon reports
	// it to the user as bad input. Wrong configuration is reported by
	// Configure as ConfigErrors instead.
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrUnsupported: the plugin does not implement the call or the
	// requested option (a cast mode, cancelling single targets). An older
	// plugin answering codes.Unimplemented is unsupported too, so the
	// daemon treats it as "not supported", not as a crash.
	ErrUnsupported = errors.New("not supported by this plugin")

	// ErrPluginUnavailable: the plugin cannot serve now and a later try may
	// succeed. The daemon returns it for a plugin that has exited or is
	// shutting down (and for any transport failure reaching it); a plugin
	// returns it when something it depends on is down.
	ErrPluginUnavailable = errors.New("plugin unavailable (exited or shutting down)")

	// ErrInternal: the plugin failed (a bug, a broken backend). It is the
	// kind of every error a plugin returns without one.
	ErrInternal = errors.New("internal plugin error")
)

// InvalidArgument marks err as ErrInvalidArgument, keeping its message and
// its chain (errors.Is and errors.As still see err). It returns nil for nil.
func InvalidArgument(err error) error { return withKind(ErrInvalidArgument, err) }

// Unsupported marks err as ErrUnsupported; see InvalidArgument.
func Unsupported(err error) error { return withKind(ErrUnsupported, err) }

// Unavailable marks err as ErrPluginUnavailable; see InvalidArgument.
func Unavailable(err error) error { return withKind(ErrPluginUnavailable, err) }

// Internal marks err as ErrInternal; see InvalidArgument. Only needed to
// override a kind err already wraps: an unmarked error is internal anyway.
func Internal(err error) error { return withKind(ErrInternal, err) }

func withKind(kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{err: err, kind: kind}
}

// kindError is an error marked with a kind. Its message is err's: the kind
// is named where the error is shown to a user, on the daemon's side.
type kindError struct {
	err  error
	kind error
}

func (e *kindError) Error() string { return e.err.Error() }

// Unwrap lists the kind first, so that errors.Is finds the outermost kind
// before any kind err itself wraps.
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// kindOf is the kind err carries: the outermost one that errors.Is finds
// walking the chain depth-first, nil when none.
func kindOf(err error) error {
	var found error
	var walk func(error) bool
	walk = func(e error) bool {
		for e != nil {
			switch e {
			case ErrInvalidArgument, ErrUnsupported, ErrPluginUnavailable, ErrInternal:
				found = e
				return true
			}
			switch u := e.(type) {
			case interface{ Unwrap() []error }:
				for _, x := range u.Unwrap() {
					if walk(x) {
						return true
					}
				}
				return false
			case interface{ Unwrap() error }:
				e = u.Unwrap()
			default:
				return false
			}
		}
		return false
	}
	walk(err)
	return found
}

// kindCodes maps each kind to its gRPC code, and back.
var kindCodes = map[error]codes.Code{
	ErrInvalidArgument:   codes.InvalidArgument,
	ErrUnsupported:       codes.Unimplemented,
	ErrPluginUnavailable: codes.Unavailable,
	ErrInternal:          codes.Internal,
}

// statusError turns an implementation's error into a gRPC status on the
// plugin's side: context errors keep their code, a kind becomes its code,
// an error that already is a gRPC status (from a call the plugin made)
// passes unchanged, and anything else is codes.Unknown. The message is the
// error's text.
func statusError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if kind := kindOf(err); kind != nil {
		return status.Error(kindCodes[kind], err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}

// wireError turns a gRPC error from a plugin into an error for the daemon,
// the inverse of statusError: the code becomes the kind (Unknown and any
// code without a kind become ErrInternal), and the message is the call and
// the plugin's message. A plugin that went away becomes ErrPluginUnavailable
// and an older plugin's Unimplemented becomes ErrUnsupported.
func wireError(call string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", call, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", call, err)
	}
	var kind error
	switch st.Code() {
	case codes.Canceled:
		return fmt.Errorf("%s: %w", call, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", call, context.DeadlineExceeded)
	case codes.InvalidArgument:
		kind = ErrInvalidArgument
	case codes.Unimplemented:
		kind = ErrUnsupported
	case codes.Unavailable:
		kind = ErrPluginUnavailable
	default:
		kind = ErrInternal
	}
	msg := st.Message()
	switch {
	case msg == "":
		msg = kind.Error()
	case kind != ErrInternal && !strings.Contains(msg, kind.Error()):
		msg = kind.Error() + ": " + msg
	}
	return &wireErr{msg: call + ": " + msg, kind: kind}
}

// wireErr is a plugin's error on the daemon's side: the text reads as the
// plugin wrote it, and errors.Is finds its kind.
type wireErr struct {
	msg  string
	kind error
}

func (e *wireErr) Error() string { return e.msg }
func (e *wireErr) Unwrap() error { return e.kind }
