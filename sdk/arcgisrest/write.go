package arcgisrest

import (
	"context"
	"fmt"
	"io"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Unapplied reports whether err is the portal refusing a request before
// acting on it: throttled (HTTP 429, HTTP 200 with a JSON error code 429,
// ArcGIS Online's HTML 403 to write bursts) or turned away for its token
// (498 invalid or expired, 499 required, 401). Sending such a write again
// cannot do it twice. A 500, a reset connection or a timeout may have
// been applied, and is not Unapplied.
func Unapplied(err error) bool {
	return err != nil && (sdk.KindOf(err) == sdk.KindAuth || sdk.ReasonOf(err) == sdk.ReasonThrottled)
}

// OpenFile opens an upload's file afresh for one attempt of a write; the
// io.Closer (nil when nothing to close) is closed after the attempt.
type OpenFile func() (*sdk.PortalFile, io.Closer, error)

// writeAuthRetries bounds the attempts after a token refusal: the source
// renews the token on the first, so a second refusal in a row is the
// credentials themselves.
const writeAuthRetries = 2

// WriteJSON sends a write that must not happen twice (addItem, publish,
// update...) through p and decodes its answer into v. It is sent again only
// when the portal refused it unapplied (Unapplied): after a throttle, as
// pol paces throttling (sdk.ReasonThrottled: its longer delays), up to
// pol's retries; after a token refusal at once (the source has renewed the
// token), at most twice. Every other failure is returned as it is. open,
// when set, gives each attempt the upload's file from its start (a stream
// is spent by the attempt that read it); p must not retry on its own.
func WriteJSON(ctx context.Context, p Portal, pol retry.Policy, req sdk.PortalRequest, open OpenFile, v any) error {
	retries := pol.Retries
	if retries == 0 {
		retries = retry.DefaultRetries
	}
	sleep := pol.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	throttled, auth := 0, 0
	for {
		r := req
		var closer io.Closer
		if open != nil {
			f, c, err := open()
			if err != nil {
				return err
			}
			r.File, closer = f, c
		}
		err := GetJSON(ctx, p, r, v)
		if closer != nil {
			closer.Close()
		}
		if err == nil || !Unapplied(err) || ctx.Err() != nil {
			return attempts(err, 1+throttled+auth)
		}
		if sdk.KindOf(err) == sdk.KindAuth {
			if auth++; auth > writeAuthRetries {
				return attempts(err, throttled+auth)
			}
			continue
		}
		if throttled++; throttled > retries {
			return attempts(err, throttled+auth)
		}
		if serr := sleep(ctx, pol.Delay(throttled, err)); serr != nil {
			return sdk.Classify(sdk.KindCanceled, fmt.Errorf("%w (while waiting to send again: %v)", serr, err))
		}
	}
}

// attempts says how often a write was sent when it was more than once.
func attempts(err error, n int) error {
	if err == nil || n <= 1 {
		return err
	}
	return fmt.Errorf("%w (sent %d times; the portal turned the earlier ones away unapplied: throttled or a token refused)", err, n)
}
