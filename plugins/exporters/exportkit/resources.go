package exportkit

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// Resource is one file of an item's resources.
type Resource struct {
	Path    string `json:"resource"`
	Size    int64  `json:"size"`
	Created int64  `json:"created"`
	Access  string `json:"access"`
}

// ListResources pages through the item's resources.
func (s *Session) ListResources(ctx context.Context) ([]Resource, error) {
	var out []Resource
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		out = out[:0]
		return arcgisrest.ForEachPage(ctx, s.Host.Portal, jsonGet(ItemPath(s.Req.Item.ID, "resources"), url.Values{}), 100,
			func(_ arcgisrest.Page, body []byte) error {
				var pg struct {
					Resources []Resource `json:"resources"`
				}
				if err := json.Unmarshal(body, &pg); err != nil {
					return sdk.Permanent("resources listing of item %s is not the expected JSON: %v", s.Req.Item.ID, err)
				}
				out = append(out, pg.Resources...)
				return nil
			})
	})
	return out, err
}

// ResourcesResult says how the resources zip went.
type ResourcesResult struct {
	Count int
	// Missing are resources that could not be fetched (listed, then gone or
	// failing after retries); the zip holds the others.
	Missing []string
}

// SaveResources writes the item's resources as one zip (resources.zip),
// streamed: a zip writer feeds a pipe that the sinks read, each resource
// downloaded (resuming after resets) straight into its zip entry. Entries
// carry the resource's created time, so the same resources give the same
// zip bytes. No artifact is written when the item has no resources.
func (s *Session) SaveResources(ctx context.Context) (ResourcesResult, error) {
	var res ResourcesResult
	list, err := s.ListResources(ctx)
	if err != nil {
		return res, err
	}
	if len(list) == 0 {
		return res, nil
	}
	err = s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		res = ResourcesResult{}
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(s.writeResourcesZip(ctx, pw, list, &res))
		}()
		werr := s.Out.Write(ctx, sdk.Artifact{Name: ResourcesZip, MediaType: "application/zip", Size: -1, Format: "Resources (zip)"}, pr)
		pr.CloseWithError(fmt.Errorf("artifact write ended"))
		<-done
		return werr
	})
	if err != nil {
		return res, err
	}
	for _, m := range res.Missing {
		s.Warn(ctx, "item %s (%s): resource %s could not be saved", s.Req.Item.ID, s.Req.Item.Title, m)
	}
	return res, nil
}

func (s *Session) writeResourcesZip(ctx context.Context, w io.Writer, list []Resource, res *ResourcesResult) error {
	zw := zip.NewWriter(w)
	for _, r := range list {
		size := r.Size
		if size <= 0 {
			size = -1 // a listing without sizes says nothing
		}
		d, err := s.OpenSized(ctx, Raw(ItemPath(s.Req.Item.ID, "resources", escapePath(r.Path)), nil), size)
		if err != nil {
			if sdk.KindOf(err) == sdk.KindCanceled || sdk.KindOf(err) == sdk.KindAuth {
				return err
			}
			res.Missing = append(res.Missing, fmt.Sprintf("%s (%v)", r.Path, err))
			continue
		}
		hdr := &zip.FileHeader{Name: r.Path, Method: zip.Deflate, Modified: time.UnixMilli(r.Created).UTC()}
		ew, err := zw.CreateHeader(hdr)
		if err != nil {
			d.Close()
			return err
		}
		_, err = io.Copy(ew, d)
		d.Close()
		if err != nil {
			// The entry is cut: the zip cannot be mended, so fail this
			// attempt; Save's retry starts the zip again.
			return err
		}
		res.Count++
	}
	return zw.Close()
}
