package restore

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/sdk"
)

// host is the sdk.RestoreHost of one item's restore: portal requests go to
// the target's source (the plugin never sees its credentials), artifacts
// come from the run through the catalog, checked against the manifest.
type host struct {
	o  *Options
	st *Step
	// made are the items the step's create requests answered with
	// (made.go), deleted when the step fails.
	mu   sync.Mutex
	made []string
}

func (o *Options) host(st *Step) *host { return &host{o: o, st: st} }

func (h *host) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if !createsItem(req.URL) {
		return h.o.Target.Do(ctx, req)
	}
	// A create runs to its answer even when the restorer goes away (its
	// plugin crashed, or it gave up): the answer names the item made,
	// which dropMade deletes if the step fails.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	resp, err := h.o.Target.Do(cctx, req)
	if err != nil || resp == nil || resp.Body == nil {
		cancel()
		return resp, err
	}
	resp.Body = &madeCapture{rc: resp.Body, h: h, cancel: cancel}
	return resp, nil
}

// createTimeout bounds a create request (an upload of a large file
// included) once its restorer has gone away.
const createTimeout = 2 * time.Hour

func (h *host) Progress(context.Context, sdk.Progress) {}

func (h *host) Log(_ context.Context, level sdk.LogLevel, msg string) {
	args := []any{"item", h.st.Item.ID, "title", h.st.Item.Title, "restorer", h.st.Restorer}
	switch level {
	case sdk.LogError:
		h.o.Log.Error(msg, args...)
	case sdk.LogWarn:
		h.o.Log.Warn(msg, args...)
	case sdk.LogDebug:
		h.o.Log.Debug(msg, args...)
	default:
		h.o.Log.Info(msg, args...)
	}
}

// ReadArtifact opens one of the item's artifacts in the run's sink. The
// stream fails with ReasonCorrupt (typed, across the plugin boundary) when
// the bytes differ from the manifest, and holds its last byte back until
// the check has passed, so a restorer streaming it into an upload can never
// complete the upload with a corrupt copy.
func (h *host) ReadArtifact(ctx context.Context, name string) (io.ReadCloser, error) {
	for _, a := range h.o.Manifest.Artifacts {
		if a.ItemID != h.st.Item.ID || a.Name != name {
			continue
		}
		rc, err := h.o.Catalog.Open(ctx, h.o.Run, a)
		if err != nil {
			return nil, classify(err)
		}
		return &holdBack{rc: rc, size: a.Size}, nil
	}
	return nil, sdk.Classify(sdk.KindNotFound, fmt.Errorf("run %s holds no artifact %q of item %s", h.o.Run.Folder, name, h.st.Item.ID))
}

// classify gives an integrity failure its typed reason.
func classify(err error) error {
	ie, ok := catalog.AsIntegrity(err)
	if !ok {
		return err
	}
	if ie.Problem == catalog.Missing {
		return sdk.Classify(sdk.KindNotFound, err)
	}
	return sdk.WithReason(sdk.KindPermanent, sdk.ReasonCorrupt, err)
}

// holdBack passes a checked stream on, one byte behind: the last byte is
// delivered only after the check's clean end (io.EOF), never before a
// mismatch is known; once one is, nothing more is delivered.
type holdBack struct {
	rc   io.ReadCloser
	size int64
	buf  []byte
	pend []byte // read from rc, not yet delivered (a window of buf)
	err  error
}

func (h *holdBack) Size() int64 { return h.size }

func (h *holdBack) Read(p []byte) (int, error) {
	if h.buf == nil {
		h.buf = make([]byte, 64<<10)
	}
	for len(h.pend) <= 1 && h.err == nil {
		// Move the held byte to the front and read behind it.
		k := copy(h.buf, h.pend)
		n, err := h.rc.Read(h.buf[k:])
		h.pend, h.err = h.buf[:k+n], err
	}
	if h.err != nil && h.err != io.EOF {
		return 0, classify(h.err)
	}
	avail := len(h.pend)
	if h.err == nil {
		avail-- // hold one back until the end is known to be clean
	}
	if avail == 0 {
		return 0, io.EOF
	}
	n := copy(p, h.pend[:avail])
	h.pend = h.pend[n:]
	return n, nil
}

func (h *holdBack) Close() error { return h.rc.Close() }
