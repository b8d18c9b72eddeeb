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

// Error is a classified error. RetryAfter, when non-zero, is the delay the
// remote side asked for (HTTP Retry-After).
type Error struct {
	Kind       ErrorKind
	Err        error
	RetryAfter time.Duration
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
