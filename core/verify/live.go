package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

// SourceCounts returns the LiveCounts that ask the portal through src (a
// configured, connected source): the item's service URL, its layers, then
// each layer's row count and, where it has attachments, their count, as
// the feature service exporter counted them at export time.
func SourceCounts(src sdk.Source) LiveCounts {
	get := func(ctx context.Context, u string, q url.Values, v any) error {
		if q == nil {
			q = url.Values{}
		}
		q.Set("f", "json")
		resp, err := src.Do(ctx, sdk.PortalRequest{Method: "GET", URL: u, Query: q, Header: map[string][]string{"Accept": {"application/json"}}})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v)
	}
	return func(ctx context.Context, itemID string) (map[int]LayerCount, error) {
		var item struct {
			URL string `json:"url"`
		}
		if err := get(ctx, "content/items/"+url.PathEscape(itemID), nil, &item); err != nil {
			return nil, err
		}
		if item.URL == "" {
			return nil, fmt.Errorf("the item has no service URL now")
		}
		base := strings.TrimRight(item.URL, "/")
		var defs struct {
			Layers []layerHead `json:"layers"`
			Tables []layerHead `json:"tables"`
		}
		if err := get(ctx, base+"/layers", nil, &defs); err != nil {
			return nil, err
		}
		out := map[int]LayerCount{}
		for _, l := range append(defs.Layers, defs.Tables...) {
			if l.Type == "Group Layer" {
				continue
			}
			var n struct {
				Count *int64 `json:"count"`
			}
			if err := get(ctx, fmt.Sprintf("%s/%d/query", base, l.ID), url.Values{"where": {"1=1"}, "returnCountOnly": {"true"}}, &n); err != nil || n.Count == nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				continue
			}
			lc := LayerCount{ID: l.ID, Name: l.Name, Rows: *n.Count, Attachments: -1}
			if l.HasAttachments {
				var a struct {
					Count *int64 `json:"count"`
				}
				if err := get(ctx, fmt.Sprintf("%s/%d/queryAttachments", base, l.ID), url.Values{"definitionExpression": {"1=1"}, "returnCountOnly": {"true"}}, &a); err == nil && a.Count != nil {
					lc.Attachments = *a.Count
				}
			}
			out[l.ID] = lc
		}
		return out, nil
	}
}

type layerHead struct {
	ID             int    `json:"id"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	HasAttachments bool   `json:"hasAttachments"`
}
