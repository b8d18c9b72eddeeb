package grpcplugin

import (
	"context"
	"errors"
	"time"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrUnreachable is matched (errors.Is) by errors that come from the
// connection to a plugin rather than from the plugin's own code: the process
// died, or the connection broke. The plugin host restarts a plugin on it.
var ErrUnreachable = errors.New("plugin unreachable")

// kindCodes maps each error kind to the gRPC code it travels as. The exact
// kind and RetryAfter also ride in an ErrorDetail, so the mapping back is
// lossless between our own adapters and sensible for any other client.
var kindCodes = map[sdk.ErrorKind]codes.Code{
	sdk.KindPermanent: codes.FailedPrecondition,
	sdk.KindRetryable: codes.Unavailable,
	sdk.KindAuth:      codes.Unauthenticated,
	sdk.KindNotFound:  codes.NotFound,
	sdk.KindCanceled:  codes.Canceled,
}

var kindProto = map[sdk.ErrorKind]pluginv1.ErrorDetail_Kind{
	sdk.KindPermanent: pluginv1.ErrorDetail_KIND_PERMANENT,
	sdk.KindRetryable: pluginv1.ErrorDetail_KIND_RETRYABLE,
	sdk.KindAuth:      pluginv1.ErrorDetail_KIND_AUTH,
	sdk.KindNotFound:  pluginv1.ErrorDetail_KIND_NOT_FOUND,
	sdk.KindCanceled:  pluginv1.ErrorDetail_KIND_CANCELED,
}

// reasonProto maps each reason to its protocol value; a reason missing here
// would silently travel as unspecified, which TestReasonsRoundTrip catches.
var reasonProto = map[sdk.Reason]pluginv1.ErrorDetail_Reason{
	sdk.ReasonNone:          pluginv1.ErrorDetail_REASON_UNSPECIFIED,
	sdk.ReasonForbidden:     pluginv1.ErrorDetail_REASON_FORBIDDEN,
	sdk.ReasonThrottled:     pluginv1.ErrorDetail_REASON_THROTTLED,
	sdk.ReasonUnreachable:   pluginv1.ErrorDetail_REASON_UNREACHABLE,
	sdk.ReasonNoSpace:       pluginv1.ErrorDetail_REASON_NO_SPACE,
	sdk.ReasonCorrupt:       pluginv1.ErrorDetail_REASON_CORRUPT,
	sdk.ReasonNoDataChannel: pluginv1.ErrorDetail_REASON_NO_DATA_CHANNEL,
}

func errorDetail(err error) *pluginv1.ErrorDetail {
	return &pluginv1.ErrorDetail{Kind: kindProto[sdk.KindOf(err)], RetryAfterMillis: sdk.RetryAfterOf(err).Milliseconds(),
		Reason: reasonProto[sdk.ReasonOf(err)], RetriesExhausted: sdk.IsExhausted(err)}
}

// toStatus turns an error from a component into a gRPC status error that
// keeps its message, kind and RetryAfter. A nil error stays nil.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isClassified(err) {
		// Already a status (from a nested gRPC call); pass it on.
		return err
	}
	st := status.New(kindCodes[sdk.KindOf(err)], err.Error())
	if withDetail, derr := st.WithDetails(errorDetail(err)); derr == nil {
		st = withDetail
	}
	return st.Err()
}

func isClassified(err error) bool {
	var e *sdk.Error
	return errors.As(err, &e)
}

// fromStatus turns a gRPC error into a classified sdk error with the
// component's message. Errors the component did not produce (no ErrorDetail)
// are classified by code, and transport failures also match ErrUnreachable.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*pluginv1.ErrorDetail); ok {
			return fromDetail(st.Message(), ed)
		}
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		return &sdk.Error{Kind: sdk.KindRetryable, Err: &wireError{msg: msg, is: ErrUnreachable}}
	case codes.ResourceExhausted, codes.DeadlineExceeded:
		return &sdk.Error{Kind: sdk.KindRetryable, Err: errors.New(msg)}
	case codes.Unauthenticated:
		return &sdk.Error{Kind: sdk.KindAuth, Err: errors.New(msg)}
	case codes.NotFound:
		return &sdk.Error{Kind: sdk.KindNotFound, Err: errors.New(msg)}
	case codes.Canceled:
		return &sdk.Error{Kind: sdk.KindCanceled, Err: &wireError{msg: msg, is: context.Canceled}}
	}
	return &sdk.Error{Kind: sdk.KindPermanent, Err: errors.New(msg)}
}

func fromDetail(msg string, ed *pluginv1.ErrorDetail) error {
	kind := sdk.KindPermanent
	for k, p := range kindProto {
		if p == ed.GetKind() {
			kind = k
		}
	}
	reason := sdk.ReasonNone // a value this side does not know stays unspecified
	for r, p := range reasonProto {
		if p == ed.GetReason() {
			reason = r
		}
	}
	var inner error = errors.New(msg)
	if kind == sdk.KindCanceled {
		inner = &wireError{msg: msg, is: context.Canceled}
	}
	return &sdk.Error{Kind: kind, Err: inner, RetryAfter: time.Duration(ed.GetRetryAfterMillis()) * time.Millisecond, Reason: reason,
		Exhausted: ed.GetRetriesExhausted()}
}

// wireError keeps the remote message while matching a local sentinel.
type wireError struct {
	msg string
	is  error
}

func (e *wireError) Error() string        { return e.msg }
func (e *wireError) Is(target error) bool { return target == e.is }
