// Package tiles is the `tiles` exporter: hosted tile layers (Map Service
// with the "Hosted Service" keyword) and vector tile layers, exported with
// exportTiles (a geoprocessing-style job) into the package the portal
// makes (.tpkx on ArcGIS Online, .tpk on older servers, .vtpk). A layer
// above the service's maxExportTilesCount is skipped with the portal's
// reason, and so is one whose tile package already exists as an item with
// the identical title (the package is backed up as a file). Non-hosted map
// services (map image layers) get their description only.
package tiles

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Exporter is the tiles exporter. Retry and Poll may be set before use.
type Exporter struct {
	Retry retry.Policy
	Poll  arcgisrest.PollOptions

	mu   sync.Mutex
	jobs map[string]tileJob // item id -> exportTiles job left running
}

// tileJob is an exportTiles job a deferred export left running.
type tileJob struct {
	id     string
	maxLOD int
}

// New returns the exporter.
func New() sdk.Exporter { return &Exporter{jobs: map[string]tileJob{}} }

func (e *Exporter) Info() sdk.Info {
	return exportkit.Info("tiles", "Hosted tile and vector tile layers exported to .tpkx / .tpk / .vtpk with exportTiles")
}
func (e *Exporter) Schema() sdk.Schema { return sdk.Schema{} }
func (e *Exporter) ItemTypes() []string {
	return []string{"Map Service", "Vector Tile Service"}
}
func (e *Exporter) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics {
	return nil
}
func (e *Exporter) Close() error { return nil }

type tileService struct {
	ExportTilesAllowed bool `json:"exportTilesAllowed"`
	MaxExportTiles     int  `json:"maxExportTilesCount"`
	MaxLOD             *int `json:"maxLOD"`
	TileInfo           struct {
		LODs []struct {
			Level int `json:"level"`
		} `json:"lods"`
	} `json:"tileInfo"`
}

// Export exports the tiles.
func (e *Exporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	s := exportkit.NewSession(host, out, req, e.Retry)
	it := req.Item
	start := time.Now()
	if it.URL == "" || !hasKeyword(it, "Hosted Service") {
		// A map image layer (non-hosted Map Service) draws from its
		// server's own data: only its description is the org's.
		if err := s.DescribeReference(ctx); err != nil {
			return sdk.ExportResult{}, err
		}
		return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings, Reason: exportkit.ReferenceReason(it)}, nil
	}
	vector := it.Type == "Vector Tile Service" || strings.HasSuffix(strings.TrimRight(it.URL, "/"), "/VectorTileServer")
	// ArcGIS Online makes .tpkx (Compact Tile Package) from exportTiles,
	// older servers .tpk; both are the same layer's package.
	pkgTypes, ext := []string{"Tile Package", "Compact Tile Package"}, ".tpk"
	if vector {
		pkgTypes, ext = []string{"Vector Tile Package"}, ".vtpk"
	}
	e.mu.Lock()
	job, resumed := e.jobs[it.ID]
	delete(e.jobs, it.ID)
	e.mu.Unlock()
	jobID, maxLOD := job.id, job.maxLOD
	if req.Resume && !resumed && req.Timeout < 0 {
		return sdk.ExportResult{Status: sdk.StatusFailed, Warnings: s.Warnings,
			Reason: "no exportTiles job of this item was remembered to collect (exporter restarted?), and no time was left to export it again"}, nil
	}
	if !req.Resume || !resumed {
		if err := s.Save(ctx, sdk.Artifact{Name: "service.json", MediaType: "application/json", Format: "JSON"}, exportkit.JSONRequest(it.URL)); err != nil {
			return sdk.ExportResult{}, err
		}
		if err := s.Describe(ctx); err != nil {
			return sdk.ExportResult{}, err
		}
		if _, err := s.SaveRelated(ctx, nil); err != nil {
			return sdk.ExportResult{}, err
		}
		if pkg, err := e.packageExists(ctx, s, pkgTypes); err != nil && sdk.KindOf(err) != sdk.KindPermanent {
			return sdk.ExportResult{}, err
		} else if err != nil {
			// The check only saves a duplicate export; a search the portal
			// refuses (a title it cannot parse) must not lose the tiles.
			s.Warn(ctx, "item %s (%s): could not search for a tile package with the same title (%v); exporting the tiles", it.ID, it.Title, err)
		} else if pkg.ID != "" {
			return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings,
				Reason: fmt.Sprintf("a %s item with the identical title exists (%s, owner %s) and is backed up as a file by the file exporter; the tiles were not exported again", pkg.Type, pkg.ID, pkg.Owner)}, nil
		}
		var svc tileService
		if err := s.GetJSON(ctx, exportkit.JSONRequest(it.URL), &svc); err != nil {
			return sdk.ExportResult{}, err
		}
		if !svc.ExportTilesAllowed {
			return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings,
				Reason: "the layer does not allow exportTiles (enable \"Allow others to export tiles\" on the layer to back up its tiles)"}, nil
		}
		maxLOD = 0
		for _, l := range svc.TileInfo.LODs {
			maxLOD = max(maxLOD, l.Level)
		}
		if svc.MaxLOD != nil {
			maxLOD = *svc.MaxLOD
		}
		levels := make([]string, 0, maxLOD+1)
		for l := 0; l <= maxLOD; l++ {
			levels = append(levels, strconv.Itoa(l))
		}
		form := url.Values{"exportBy": {"LevelID"}, "levels": {strings.Join(levels, ",")}}
		if !vector {
			form.Set("tilePackage", "true")
		}
		var ans struct {
			JobID string `json:"jobId"`
		}
		if err := s.PostJSON(ctx, arcgisrest.JSONPost(strings.TrimRight(it.URL, "/")+"/exportTiles", form), &ans); err != nil {
			return sdk.ExportResult{}, err
		}
		if ans.JobID == "" {
			return sdk.ExportResult{}, sdk.Permanent("exportTiles answered without a job id")
		}
		jobID = ans.JobID
	}
	jobURL := strings.TrimRight(it.URL, "/") + "/jobs/" + url.PathEscape(jobID)
	j, ok, err := e.wait(ctx, s, jobURL, start)
	if err != nil {
		return sdk.ExportResult{}, err
	}
	if !ok {
		// Out of time with the job still running (see wait: never an error,
		// which would make the host export the item again with a new job).
		if !req.Resume {
			e.mu.Lock()
			e.jobs[it.ID] = tileJob{id: jobID, maxLOD: maxLOD}
			e.mu.Unlock()
			return sdk.ExportResult{Status: sdk.StatusDeferred, Warnings: s.Warnings,
				Reason: fmt.Sprintf("exportTiles still running after %s; collected before the run ends", req.Timeout)}, nil
		}
		e.cancel(ctx, s, jobURL)
		return sdk.ExportResult{Status: sdk.StatusFailed, Warnings: s.Warnings,
			Reason: fmt.Sprintf("the portal's exportTiles job %s was still running when the time to collect it ran out; the job was given up", jobID)}, nil
	}
	if j.State != arcgisrest.JobSucceeded {
		if strings.Contains(strings.ToLower(j.Message), "exceeds the maximum") {
			return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings,
				Reason: fmt.Sprintf("too many tiles to export: levels 0-%d ask for more tiles than the layer's maxExportTilesCount allows (the portal said: %s). "+
					"Raise maxExportTilesCount in the layer's settings, or keep the tile package the layer was published from; its description and service.json were saved", maxLOD, strings.TrimSpace(j.Message))}, nil
		}
		return sdk.ExportResult{}, sdk.Permanent("exportTiles job %s: %s", j.Status, j.Message)
	}
	dl, err := e.resultURL(ctx, s, jobURL, j)
	if err != nil {
		return sdk.ExportResult{}, err
	}
	if x := strings.ToLower(path.Ext(urlPath(dl))); x == ".tpk" || x == ".tpkx" || x == ".vtpk" {
		ext = x
	}
	format := map[string]string{".tpk": "Tile Package", ".tpkx": "Compact Tile Package", ".vtpk": "Vector Tile Package"}[ext]
	name := exportkit.FileName(sdk.Item{ID: it.ID, Title: it.Title}, ext)
	if err := s.Save(ctx, sdk.Artifact{Name: name, MediaType: "application/octet-stream", Format: format}, exportkit.Raw(dl, nil)); err != nil {
		return sdk.ExportResult{}, err
	}
	s.DataFormat = format
	return s.Result(nil), nil
}

// wait polls the exportTiles job until it ends or req.Timeout from start
// passes; ok is false when the time ran out with the job still running.
// Failing status requests are polled through until then: an error here
// would make the host export the item again with a second job.
func (e *Exporter) wait(ctx context.Context, s *exportkit.Session, jobURL string, start time.Time) (j arcgisrest.Job, ok bool, err error) {
	timeout := s.Req.Timeout
	opt := e.Poll
	opt.OnStatus = func(j arcgisrest.Job) { s.Progress(ctx, "exportTiles: "+j.Status, 0) }
	for {
		if timeout != 0 {
			if opt.Timeout = timeout - time.Since(start); opt.Timeout <= 0 {
				return j, false, nil
			}
		}
		j, err = arcgisrest.PollJob(ctx, s.Host.Portal, arcgisrest.JSON(jobURL, nil), opt)
		switch k := sdk.KindOf(err); {
		case err == nil:
			return j, true, nil
		case timeout != 0 && arcgisrest.IsPollTimeout(err):
			return j, false, nil
		case timeout == 0 || (k != sdk.KindRetryable && k != sdk.KindAuth):
			return j, false, err
		}
		s.Logf(ctx, "item %s (%s): status of exportTiles job unavailable (%v); still waiting for it", s.Item().ID, s.Item().Title, err)
		t := time.NewTimer(statusRetryPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return j, false, sdk.Classify(sdk.KindCanceled, ctx.Err())
		case <-t.C:
		}
	}
}

// statusRetryPause is the pause before polling again after the status
// requests of a running job failed several times in a row.
const statusRetryPause = 5 * time.Second

// cancel asks the server to stop a job given up (best effort: a server
// that cannot cancel lets it finish; exportTiles keeps no item).
func (e *Exporter) cancel(ctx context.Context, s *exportkit.Session, jobURL string) {
	if err := arcgisrest.GetJSON(ctx, s.Host.Portal, arcgisrest.JSONPost(jobURL+"/cancel", url.Values{}), nil); err != nil {
		s.Logf(ctx, "item %s (%s): exportTiles job given up but not cancelled (%v); the server ends it on its own", s.Item().ID, s.Item().Title, err)
	}
}

// resultURL reads the download address from the job's result parameter.
func (e *Exporter) resultURL(ctx context.Context, s *exportkit.Session, jobURL string, j arcgisrest.Job) (string, error) {
	for _, raw := range j.Results {
		var ref struct {
			ParamURL string `json:"paramUrl"`
		}
		if json.Unmarshal(raw, &ref) != nil || ref.ParamURL == "" {
			continue
		}
		var res struct {
			Value json.RawMessage `json:"value"`
		}
		if err := s.GetJSON(ctx, arcgisrest.JSON(jobURL+"/"+ref.ParamURL, nil), &res); err != nil {
			return "", err
		}
		var str string
		if json.Unmarshal(res.Value, &str) == nil && str != "" {
			if isPackage(str) {
				return str, nil
			}
			// ArcGIS documents the value as the job's output folder (a
			// GPString); the folder's JSON lists the package to download.
			return e.packageInFolder(ctx, s, str)
		}
		var obj struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(res.Value, &obj) == nil && obj.URL != "" {
			return obj.URL, nil
		}
	}
	return "", sdk.Permanent("exportTiles succeeded but named no download")
}

// isPackage reports whether a download address names a tile package file.
func isPackage(raw string) bool {
	switch strings.ToLower(path.Ext(urlPath(raw))) {
	case ".tpk", ".tpkx", ".vtpk":
		return true
	}
	return false
}

// packageInFolder reads an exportTiles output folder
// ({"files":[{"name","url"}]}) and returns the tile package's address.
func (e *Exporter) packageInFolder(ctx context.Context, s *exportkit.Session, folder string) (string, error) {
	var dir struct {
		Files []struct {
			Name string `json:"name"`
			URL  string `json:"url"`
		} `json:"files"`
	}
	if err := s.GetJSON(ctx, arcgisrest.JSON(folder, nil), &dir); err != nil {
		return "", err
	}
	for _, f := range dir.Files {
		if f.URL != "" && (isPackage(f.URL) || isPackage(f.Name)) {
			return f.URL, nil
		}
	}
	return "", sdk.Permanent("exportTiles succeeded but its output folder %s lists no tile package (%d files)", urlPath(folder), len(dir.Files))
}

// pkgItem is a search result for a tile package item.
type pkgItem struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Type  string `json:"type"`
	Owner string `json:"owner"`
}

// packageExists looks for a package item of one of types with the item's
// exact title (search matches titles loosely; the comparison here is
// exact), or returns a zero pkgItem.
func (e *Exporter) packageExists(ctx context.Context, s *exportkit.Session, types []string) (pkgItem, error) {
	it := s.Item()
	var ans struct {
		Results []pkgItem `json:"results"`
	}
	// type: matches part of a type name, so "Tile Package" also finds
	// Compact and Vector Tile Packages; the exact check below sorts them.
	q := url.Values{"q": {fmt.Sprintf(`title:%q AND type:"Tile Package"`, it.Title)}, "num": {"100"}}
	if err := s.GetJSON(ctx, arcgisrest.JSON("search", q), &ans); err != nil {
		return pkgItem{}, err
	}
	for _, r := range ans.Results {
		if r.Title == it.Title && slices.Contains(types, r.Type) {
			return r, nil
		}
	}
	return pkgItem{}, nil
}

// urlPath is the path of a download address, without its query.
func urlPath(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Path
	}
	return raw
}

func hasKeyword(it sdk.Item, kw string) bool {
	for _, k := range it.TypeKeywords {
		if strings.EqualFold(k, kw) {
			return true
		}
	}
	return false
}
