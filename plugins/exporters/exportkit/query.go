package exportkit

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

// QueryOptions tune QueryLayers.
type QueryOptions struct {
	// PageSize caps features per page; 0 uses each layer's maxRecordCount.
	PageSize    int
	Attachments bool
}

// FeatureServer is the part of a FeatureServer root the exporters read.
type FeatureServer struct {
	Layers          []LayerRef `json:"layers"`
	Tables          []LayerRef `json:"tables"`
	MaxRecordCount  int        `json:"maxRecordCount"`
	IsView          bool       `json:"isView"`
	IsLocationTrack bool       `json:"isLocationTrackingService"`
	IsLocationView  bool       `json:"isLocationTrackingView"`
	Capabilities    string     `json:"capabilities"`
}

// LayerRef is a layer or table entry of the service root.
type LayerRef struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	GeometryType string `json:"geometryType"`
	// SubLayerIDs is set on group layers, which hold no features.
	SubLayerIDs []int `json:"subLayerIds"`
}

// layerInfo is the part of a layer definition QueryLayers reads.
type layerInfo struct {
	ID                      int    `json:"id"`
	Name                    string `json:"name"`
	Type                    string `json:"type"`
	GeometryType            string `json:"geometryType"`
	ObjectIDField           string `json:"objectIdField"`
	MaxRecordCount          int    `json:"maxRecordCount"`
	HasAttachments          bool   `json:"hasAttachments"`
	SupportsQueryAttachment bool   `json:"supportsQueryAttachments"`
	Fields                  []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"fields"`
	Advanced struct {
		SupportsPagination bool `json:"supportsPagination"`
	} `json:"advancedQueryCapabilities"`
}

// QueryLayers exports every layer and table of the service at svcURL
// through s by query, page by page into GeoJSON, attachments into a zip
// per layer, and returns the reasons the result is partial: the
// feature_query exporter, and feature_service's fallback when the export
// API is refused.
func QueryLayers(ctx context.Context, s *Session, svcURL string, opt QueryOptions) ([]string, error) {
	var svc FeatureServer
	if err := s.GetJSON(ctx, JSONRequest(svcURL), &svc); err != nil {
		return nil, err
	}
	var partial []string
	all := append(append([]LayerRef(nil), svc.Layers...), svc.Tables...)
	for i, ref := range all {
		if len(ref.SubLayerIDs) > 0 {
			continue // a group layer; its sublayers are in the list
		}
		s.Progress(ctx, fmt.Sprintf("querying %s", ref.Name), float64(i)*100/float64(len(all)))
		p, err := layer(ctx, s, svcURL, ref, svc.MaxRecordCount, opt)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s) of %s: %w", ref.ID, ref.Name, s.Item().Title, err)
		}
		partial = append(partial, p...)
	}
	return partial, nil
}

func layer(ctx context.Context, s *Session, svcURL string, ref LayerRef, svcMax int, opt QueryOptions) ([]string, error) {
	lURL := strings.TrimRight(svcURL, "/") + "/" + strconv.Itoa(ref.ID)
	var li layerInfo
	if err := s.GetJSON(ctx, JSONRequest(lURL), &li); err != nil {
		return nil, err
	}
	if strings.EqualFold(li.GeometryType, "esriGeometryMultiPatch") {
		return []string{fmt.Sprintf("layer %d (%s) is a multipatch layer, which GeoJSON cannot hold; skipped", ref.ID, ref.Name)}, nil
	}
	oid := li.ObjectIDField
	if oid == "" {
		for _, f := range li.Fields {
			if f.Type == "esriFieldTypeOID" {
				oid = f.Name
			}
		}
	}
	page := opt.PageSize
	if m := li.MaxRecordCount; m > 0 && (page == 0 || page > m) {
		page = m
	}
	if page == 0 {
		page = svcMax
	}
	if page <= 0 {
		page = 1000
	}
	var count struct {
		Count int `json:"count"`
	}
	if err := s.GetJSON(ctx, JSONRequest(lURL+"/query?"+url.Values{"where": {"1=1"}, "returnCountOnly": {"true"}}.Encode()), &count); err != nil {
		return nil, err
	}
	pg := &pager{s: s, url: lURL, oid: oid, page: page, name: ref.Name, id: ref.ID}
	name := fmt.Sprintf("%d-%s.geojson", ref.ID, safeName(ref.Name))
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		pg.reset()
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(pg.write(ctx, pw))
		}()
		werr := s.Out.Write(ctx, sdk.Artifact{Name: name, MediaType: "application/geo+json", Size: -1, Format: "GeoJSON"}, pr)
		pr.CloseWithError(fmt.Errorf("artifact write ended"))
		<-done
		return werr
	})
	if err != nil {
		return nil, err
	}
	s.DataFormat = "GeoJSON"
	var partial []string
	if pg.n != count.Count {
		partial = append(partial, fmt.Sprintf("layer %d (%s): query returned %d features but the layer counts %d", ref.ID, ref.Name, pg.n, count.Count))
	}
	if opt.Attachments && li.HasAttachments && len(pg.oids) > 0 {
		missing, err := attachments(ctx, s, lURL, ref, pg.oids, li.SupportsQueryAttachment)
		if err != nil {
			return nil, err
		}
		if missing > 0 {
			partial = append(partial, fmt.Sprintf("layer %d (%s): %d attachments could not be saved", ref.ID, ref.Name, missing))
		}
	}
	return partial, nil
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string {
	s = unsafe.ReplaceAllString(s, "_")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// pager streams one layer's features as a GeoJSON FeatureCollection.
type pager struct {
	s    *Session
	url  string
	oid  string
	page int
	name string
	id   int
	n    int
	oids []int64
}

func (p *pager) reset() { p.n, p.oids = 0, p.oids[:0] }

type queryPage struct {
	Features []struct {
		Attributes map[string]json.RawMessage `json:"attributes"`
		Geometry   json.RawMessage            `json:"geometry"`
	} `json:"features"`
	ExceededTransferLimit *bool `json:"exceededTransferLimit"`
	SpatialReference      *struct {
		WKID       int `json:"wkid"`
		LatestWKID int `json:"latestWkid"`
	} `json:"spatialReference"`
}

func (p *pager) write(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"type":"FeatureCollection","name":%s,"features":[`, jsonString(p.name))
	first := true
	for offset := 0; ; {
		q := url.Values{"where": {"1=1"}, "outFields": {"*"}, "returnGeometry": {"true"}, "outSR": {"4326"},
			"resultOffset": {strconv.Itoa(offset)}, "resultRecordCount": {strconv.Itoa(p.page)}}
		if p.oid != "" {
			q.Set("orderByFields", p.oid+" ASC")
		}
		var pg queryPage
		if err := p.s.GetJSON(ctx, JSONRequest(p.url+"/query?"+q.Encode()), &pg); err != nil {
			return err
		}
		// GeoJSON is WGS84 (RFC 7946): a server that ignored outSR would
		// put metres where readers expect degrees, silently.
		if sr := pg.SpatialReference; sr != nil && len(pg.Features) > 0 && sr.WKID != 4326 && sr.LatestWKID != 4326 {
			return sdk.Permanent("layer %d (%s): the service answered coordinates in wkid %d though the query asked for outSR=4326; GeoJSON must be WGS84, so the layer was not written (use the feature_service exporter for this service)", p.id, p.name, sr.WKID)
		}
		for _, f := range pg.Features {
			if !first {
				bw.WriteByte(',')
			}
			first = false
			var idv any
			if raw, ok := f.Attributes[p.oid]; ok {
				if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
					p.oids = append(p.oids, n)
					idv = n
				}
			}
			b, err := json.Marshal(map[string]any{"type": "Feature", "id": idv, "geometry": toGeoJSON(f.Geometry), "properties": f.Attributes})
			if err != nil {
				return err
			}
			bw.Write(b)
			p.n++
		}
		offset += len(pg.Features)
		more := pg.ExceededTransferLimit != nil && *pg.ExceededTransferLimit
		if pg.ExceededTransferLimit == nil && len(pg.Features) >= p.page {
			more = true // a server that omits the flag: a full page may have a successor
		}
		if !more || len(pg.Features) == 0 {
			break
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type attachmentInfo struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
}

// attachments writes attachments-<layer>.zip with entries
// <objectid>/<attachmentid>-<name>, and returns how many could not be
// fetched.
func attachments(ctx context.Context, s *Session, lURL string, ref LayerRef, oids []int64, bulk bool) (int, error) {
	type entry struct {
		oid int64
		att attachmentInfo
	}
	var list []entry
	if bulk {
		for i := 0; i < len(oids); i += 500 {
			j := min(i+500, len(oids))
			ids := make([]string, 0, j-i)
			for _, o := range oids[i:j] {
				ids = append(ids, strconv.FormatInt(o, 10))
			}
			var ans struct {
				Groups []struct {
					ParentObjectID int64            `json:"parentObjectId"`
					Infos          []attachmentInfo `json:"attachmentInfos"`
				} `json:"attachmentGroups"`
			}
			form := url.Values{"objectIds": {strings.Join(ids, ",")}}
			if err := s.GetJSON(ctx, JSONRequest(lURL+"/queryAttachments?"+form.Encode()), &ans); err != nil {
				return 0, err
			}
			for _, g := range ans.Groups {
				for _, a := range g.Infos {
					list = append(list, entry{g.ParentObjectID, a})
				}
			}
		}
	} else {
		for _, o := range oids {
			var ans struct {
				Infos []attachmentInfo `json:"attachmentInfos"`
			}
			if err := s.GetJSON(ctx, JSONRequest(fmt.Sprintf("%s/%d/attachments", lURL, o)), &ans); err != nil {
				return 0, err
			}
			for _, a := range ans.Infos {
				list = append(list, entry{o, a})
			}
		}
	}
	if len(list) == 0 {
		return 0, nil
	}
	missing := 0
	name := fmt.Sprintf("attachments-%d-%s.zip", ref.ID, safeName(ref.Name))
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		missing = 0
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			zw := zip.NewWriter(pw)
			for _, e := range list {
				size := e.att.Size
				if size <= 0 {
					size = -1 // attachment infos without a size say nothing
				}
				d, err := s.OpenSized(ctx, Raw(fmt.Sprintf("%s/%d/attachments/%d", lURL, e.oid, e.att.ID), nil), size)
				if err != nil {
					if k := sdk.KindOf(err); k == sdk.KindCanceled || k == sdk.KindAuth {
						pw.CloseWithError(err)
						return
					}
					missing++
					continue
				}
				ew, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("%d/%d-%s", e.oid, e.att.ID, safeName(e.att.Name)), Method: zip.Store})
				if err == nil {
					_, err = io.Copy(ew, d)
				}
				d.Close()
				if err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			pw.CloseWithError(zw.Close())
		}()
		werr := s.Out.Write(ctx, sdk.Artifact{Name: name, MediaType: "application/zip", Size: -1, Format: "Attachments (zip)"}, pr)
		pr.CloseWithError(fmt.Errorf("artifact write ended"))
		<-done
		return werr
	})
	return missing, err
}
