package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrorKind classifies an error once, where it is understood, so that the
// host can decide in one place whether to retry, re-authenticate or give up.
type ErrorKind int

const (
	// KindPermanent: retrying the same request will fail the same way.
	KindPermanent ErrorKind = iota
	// KindRetryable: a transient fault (timeout, 5xx, throttling, reset).
	KindRetryable
	// KindAuth: credentials are missing, wrong or expired.
	KindAuth
	// KindNotFound: the object or item does not exist (or is inaccessible).
	KindNotFound
	// KindCanceled: the run was cancelled; never retried, never reported as
	// a failure of the item.
	KindCanceled
)

func (k ErrorKind) String() string {
	switch k {
	case KindRetryable:
		return "retryable"
	case KindAuth:
		return "auth"
	case KindNotFound:
		return "not found"
	case KindCanceled:
		return "canceled"
	}
	return "permanent"
}

// Reason says what happened, beyond the kind, where the host or a plugin
// acts on it: an exporter falls back when the portal refuses an operation,
// the host slows down when throttled, a sink that is full is not retried.
// It travels across the plugin boundary (ErrorDetail.Reason), so no
// decision ever depends on an error's text.
type Reason int

const (
	// ReasonNone: nothing beyond the kind.
	ReasonNone Reason = iota
	// ReasonForbidden: the server refused the operation to these
	// credentials (an ArcGIS error 403 in a JSON answer). Permanent for this
	// user; another road (query instead of export) may still work.
	ReasonForbidden
	// ReasonThrottled: the server asked to slow down (HTTP 429, ArcGIS's
	// HTML 403 answer to bursts). Retryable after a backoff.
	ReasonThrottled
	// ReasonUnreachable: nothing answered at the address (connection
	// refused, unknown host, no route).
	ReasonUnreachable
	// ReasonNoSpace: the storage is full (no space left, quota reached).
	ReasonNoSpace
	// ReasonCorrupt: stored bytes do not match what the manifest recorded
	// (sha256 or size). The copy must not be used; another sink's may be.
	ReasonCorrupt
	// ReasonNoDataChannel: a sink plugin could not reach the host's data
	// channel and read nothing of the object; the host sends it again in
	// gRPC chunks. Set and acted on by sdk/grpcplugin alone: a plugin's own
	// code never sees it.
	ReasonNoDataChannel
)

func (r Reason) String() string {
	switch r {
	case ReasonForbidden:
		return "forbidden"
	case ReasonThrottled:
		return "throttled"
	case ReasonUnreachable:
		return "unreachable"
	case ReasonNoSpace:
		return "no space"
	case ReasonCorrupt:
		return "corrupt"
	case ReasonNoDataChannel:
		return "no data channel"
	}
	return ""
}

// Error is a classified error. RetryAfter, when non-zero, is the delay the
// remote side asked for (HTTP Retry-After); Reason, when set, says what
// happened beyond the kind.
type Error struct {
	Kind       ErrorKind
	Err        error
	RetryAfter time.Duration
	Reason     Reason
	// Exhausted: a retry loop already spent this request's retry budget on
	// the error; no other loop retries it (see sdk/retry).
	Exhausted bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Classify wraps err with a kind. A nil err stays nil.
func Classify(kind ErrorKind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err}
}

// WithReason wraps err with a kind and a reason. A nil err stays nil.
func WithReason(kind ErrorKind, reason Reason, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err, Reason: reason}
}

// Retryable, Permanent, Auth and NotFound build classified errors.
func Retryable(format string, args ...any) error {
	return &Error{Kind: KindRetryable, Err: fmt.Errorf(format, args...)}
}
func Permanent(format string, args ...any) error {
	return &Error{Kind: KindPermanent, Err: fmt.Errorf(format, args...)}
}
func Auth(format string, args ...any) error {
	return &Error{Kind: KindAuth, Err: fmt.Errorf(format, args...)}
}
func NotFound(format string, args ...any) error {
	return &Error{Kind: KindNotFound, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the kind of err: the innermost classification found by
// errors.As, KindCanceled for context cancellation, else KindPermanent.
// Unclassified errors are permanent so that a bug is never retried forever.
func KindOf(err error) ErrorKind {
	if err == nil {
		return KindPermanent
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.Canceled) {
		return KindCanceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindRetryable
	}
	return KindPermanent
}

// IsNotFound reports whether err is classified as not found.
func IsNotFound(err error) bool { return err != nil && KindOf(err) == KindNotFound }

// RetryAfterOf returns the delay the remote side asked for, or zero.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ReasonOf returns the reason of the outermost classification in err's chain
// that has one: a wrapper that re-classifies an error (a better message, a
// different kind) keeps the reason found underneath.
func ReasonOf(err error) Reason {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ReasonNone
		}
		if e.Reason != ReasonNone {
			return e.Reason
		}
		err = e.Err
	}
	return ReasonNone
}

// IsExhausted reports whether a retry loop already gave up on err (any
// classification in its chain says Exhausted).
func IsExhausted(err error) bool {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return false
		}
		if e.Exhausted {
			return true
		}
		err = e.Err
	}
	return false
}
