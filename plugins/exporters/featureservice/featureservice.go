// Package featureservice is the `feature_service` exporter: hosted feature
// services exported through the portal's export API into a File
// Geodatabase with attachments, falling back to Shapefile and CSV (the
// `formats` chain), retrying without attachments when an attachment blob
// breaks the export, deferring past its timeout and collecting the job on
// Resume. Temporary export items carry agolpipe's mark (sdk.TempExportMark)
// and are deleted permanently after download. Beside the data it saves the service
// and layer definitions, the admin definition, the item data JSON and the
// item description.
package featureservice

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// DefaultFormats is the fallback chain: each next format keeps less
// (domains, relationships, long field names), so it is only a fallback.
var DefaultFormats = []string{"File Geodatabase", "Shapefile", "CSV"}

// formatFiles names the downloaded artifact of each export format.
var formatFiles = map[string]string{
	"File Geodatabase": "data.gdb.zip", "Shapefile": "data.shp.zip", "CSV": "data.csv.zip",
	"GeoJson": "data.geojson.zip", "geoPackage": "data.gpkg.zip", "Excel": "data.xlsx.zip", "KML": "data.kmz",
}

// attachmentFormats are the export formats that carry attachments.
var attachmentFormats = map[string]bool{"File Geodatabase": true, "geoPackage": true}

// Exporter is the feature_service exporter. Retry and Poll may be set
// before use (tests). Export is safe for concurrent use on different items.
type Exporter struct {
	Retry retry.Policy
	Poll  arcgisrest.PollOptions
	// DeleteBound bounds the retries of a temporary item's delete (zero:
	// arcgisrest.DeleteItem's default).
	DeleteBound time.Duration

	formats       []string
	skipEmpty     bool
	viewData      bool
	fallbackQuery bool

	mu   sync.Mutex
	jobs map[string]*pending // item id -> export left running (deferred)
}

// pending is an export job left running past the timeout.
type pending struct {
	chain       []string // formats still to try, first is the running one
	attachments bool
	exportID    string
	jobID       string
	user        string
	partial     []string
	layers      string // exportParameters layers list
	first       string // the preferred format, to tell a fallback
	msg         string // why the last job failed
	firstMsg    string // why the preferred format failed
	dropped     bool   // attachments were dropped after a failure
	marked      bool   // exportID carries agolpipe's mark (sdk.TempExportMark)
}

func (p *pending) lastMessage() string {
	if p.msg == "" {
		return "the export job failed without a message"
	}
	return p.msg
}

func (p *pending) noAttachments() bool { return p.dropped }

// New returns the exporter.
func New() sdk.Exporter {
	return &Exporter{formats: DefaultFormats, fallbackQuery: true, jobs: map[string]*pending{}}
}

var schema = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "formats", Type: sdk.TypeListString, Description: `Export formats to try in order (default ["File Geodatabase", "Shapefile", "CSV"]); the export block's format attribute picks the first.`},
	{Name: "skip_empty", Type: sdk.TypeBool, Description: "Skip services without any feature (default false: their schema is kept)."},
	{Name: "view_data", Type: sdk.TypeBool, Description: "Also export the data of hosted views (default false: definition only; the data is in the source service)."},
	{Name: "fallback_query", Type: sdk.TypeBool, Description: "When the export API is refused to the running user, page the layers through query into GeoJSON instead (default true)."},
}}

// validFormats are the exportFormat values of the export API.
var validFormats = []string{"File Geodatabase", "Shapefile", "CSV", "GeoJson", "geoPackage", "Excel", "KML", "Feature Collection"}

func (e *Exporter) Info() sdk.Info {
	return exportkit.Info("feature_service", "Hosted feature services exported to File Geodatabase (fallbacks Shapefile, CSV) with attachments, plus definitions")
}
func (e *Exporter) Schema() sdk.Schema  { return schema }
func (e *Exporter) ItemTypes() []string { return []string{"Feature Service"} }
func (e *Exporter) Close() error        { return nil }

func (e *Exporter) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	var d sdk.Diagnostics
	if f := exportkit.Strings(req.Config, "formats"); len(f) > 0 {
		for _, x := range f {
			if !slices.Contains(validFormats, x) {
				d = d.Errorf([]string{"formats"}, "Unknown export format", "%q is not an export format; use one of %s.", x, strings.Join(validFormats, ", "))
			}
		}
		e.formats = f
	}
	e.skipEmpty = exportkit.Bool(req.Config, "skip_empty", false)
	e.viewData = exportkit.Bool(req.Config, "view_data", false)
	e.fallbackQuery = exportkit.Bool(req.Config, "fallback_query", true)
	return d
}

// chain is the format order for one request.
func (e *Exporter) chain(req sdk.ExportRequest, svc exportkit.FeatureServer) []string {
	if svc.IsLocationTrack || svc.IsLocationView || exportkitHas(req.Item, "Location Tracking Service") || exportkitHas(req.Item, "Location Tracking View") {
		// The export API cannot write location tracks to a geodatabase.
		return []string{"Shapefile", "CSV"}
	}
	out := []string{}
	if req.Format != "" {
		out = append(out, req.Format)
	}
	for _, f := range e.formats {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func exportkitHas(it sdk.Item, kw string) bool {
	for _, k := range it.TypeKeywords {
		if strings.EqualFold(k, kw) {
			return true
		}
	}
	return false
}

// Export exports the service.
func (e *Exporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	s := exportkit.NewSession(host, out, req, e.Retry)
	it := req.Item
	start := time.Now()
	if req.Resume {
		e.mu.Lock()
		p := e.jobs[it.ID]
		delete(e.jobs, it.ID)
		e.mu.Unlock()
		if p != nil {
			return e.run(ctx, s, p, start)
		}
		if req.Timeout < 0 {
			// Nothing to give up, and no time to export again.
			return sdk.ExportResult{Status: sdk.StatusFailed, Warnings: s.Warnings,
				Reason: "no export job of this item was remembered to collect (exporter restarted?), and no time was left to export it again"}, nil
		}
		s.Logf(ctx, "item %s (%s): no export job remembered for resume (exporter restarted?); exporting again", it.ID, it.Title)
	}
	if it.URL == "" || !exportkitHas(it, "Hosted Service") {
		if err := s.DescribeReference(ctx); err != nil {
			return sdk.ExportResult{}, err
		}
		return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings,
			Reason: "not a hosted feature service (registered or referenced service): its data lives on another server; its description was saved"}, nil
	}
	var svc exportkit.FeatureServer
	if !req.Resume {
		var err error
		if svc, err = e.definitions(ctx, s); err != nil {
			return sdk.ExportResult{}, err
		}
	} else if err := s.GetJSON(ctx, exportkit.JSONRequest(it.URL), &svc); err != nil {
		return sdk.ExportResult{}, err
	}
	isView := svc.IsView || exportkitHas(it, "View Service")
	if isView && !e.viewData {
		return sdk.ExportResult{Status: sdk.StatusExported, Warnings: s.Warnings}, nil
	}
	layers, skipped := exportLayers(svc)
	var partial []string
	if len(skipped) > 0 {
		partial = append(partial, "multipatch layers skipped (the export API cannot write them): "+strings.Join(skipped, ", "))
	}
	if len(layers) == 0 {
		return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings,
			Reason: "the service has only multipatch layers, which the export API cannot write; definitions were saved"}, nil
	}
	if e.skipEmpty {
		n, err := countFeatures(ctx, s, it.URL, svc)
		if err != nil {
			return sdk.ExportResult{}, err
		}
		if n == 0 {
			return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings,
				Reason: "empty service (no features) skipped by skip_empty; definitions were saved"}, nil
		}
	}
	p := &pending{chain: e.chain(req, svc), user: req.Org.Username, partial: partial, layers: layers}
	if p.user == "" {
		return sdk.ExportResult{}, sdk.Permanent("the source did not say who is signed in; the export API needs a username")
	}
	p.attachments = attachmentFormats[p.chain[0]]
	p.first = p.chain[0]
	return e.run(ctx, s, p, start)
}

// definitions saves service.json, layers.json, admin.json, item data,
// description and relationships, and returns the service root.
func (e *Exporter) definitions(ctx context.Context, s *exportkit.Session) (exportkit.FeatureServer, error) {
	it := s.Item()
	var svc exportkit.FeatureServer
	// The service root is read once and saved as read (it was fetched a
	// second time for service.json: one request per service for nothing).
	var root stdjson.RawMessage
	if err := s.GetJSON(ctx, exportkit.JSONRequest(it.URL), &root); err != nil {
		return svc, err
	}
	if err := stdjson.Unmarshal(root, &svc); err != nil {
		return svc, sdk.Permanent("item %s (%s): service %s: %v", it.ID, it.Title, it.URL, err)
	}
	json := func(name, u string) error {
		return s.Save(ctx, sdk.Artifact{Name: name, MediaType: "application/json", Format: "JSON"}, exportkit.JSONRequest(u))
	}
	if err := s.SaveBytes(ctx, sdk.Artifact{Name: "service.json", MediaType: "application/json", Format: "JSON"}, root); err != nil {
		return svc, err
	}
	if err := json("layers.json", strings.TrimRight(it.URL, "/")+"/layers"); err != nil {
		return svc, err
	}
	if au := adminURL(it.URL); au != "" {
		if err := json("admin.json", au); err != nil {
			if k := sdk.KindOf(err); k == sdk.KindCanceled {
				return svc, err
			}
			s.Warn(ctx, "item %s (%s): admin definition not saved (%v); the service definition in service.json and layers.json is", it.ID, it.Title, err)
		}
	}
	if svc.IsView || exportkitHas(it, "View Service") {
		if err := json("sources.json", strings.TrimRight(it.URL, "/")+"/sources"); err != nil && sdk.KindOf(err) == sdk.KindCanceled {
			return svc, err
		} else if err != nil {
			s.Warn(ctx, "item %s (%s): view sources not saved: %v", it.ID, it.Title, err)
		}
		if err := saveViewLayers(ctx, s, svc); err != nil {
			return svc, err
		}
	}
	refs, _, err := s.SaveDataJSON(ctx)
	if err != nil && !sdk.IsNotFound(err) {
		return svc, err
	}
	if err := s.Describe(ctx); err != nil {
		return svc, err
	}
	if _, err := s.SaveRelated(ctx, refs); err != nil {
		return svc, err
	}
	return svc, nil
}

// adminURL is the admin endpoint of a hosted feature service:
// .../rest/services/... becomes .../rest/admin/services/....
func adminURL(u string) string {
	if i := strings.Index(u, "/rest/services/"); i >= 0 {
		return u[:i] + "/rest/admin/services/" + u[i+len("/rest/services/"):]
	}
	return ""
}

// exportLayers is the exportParameters layers list without multipatch
// layers, and the names of those skipped.
func exportLayers(svc exportkit.FeatureServer) (string, []string) {
	var ids []string
	var skipped []string
	for _, l := range svc.Layers {
		if len(l.SubLayerIDs) > 0 {
			continue
		}
		if strings.EqualFold(l.GeometryType, "esriGeometryMultiPatch") {
			skipped = append(skipped, fmt.Sprintf("%d (%s)", l.ID, l.Name))
			continue
		}
		ids = append(ids, fmt.Sprintf(`{"id":%d}`, l.ID))
	}
	for _, t := range svc.Tables {
		ids = append(ids, fmt.Sprintf(`{"id":%d}`, t.ID))
	}
	if len(ids) == 0 {
		return "", skipped
	}
	return "[" + strings.Join(ids, ",") + "]", skipped
}

func countFeatures(ctx context.Context, s *exportkit.Session, svcURL string, svc exportkit.FeatureServer) (int, error) {
	total := 0
	for _, l := range append(append([]exportkit.LayerRef(nil), svc.Layers...), svc.Tables...) {
		var c struct {
			Count int `json:"count"`
		}
		q := url.Values{"where": {"1=1"}, "returnCountOnly": {"true"}}
		if err := s.GetJSON(ctx, exportkit.JSONRequest(fmt.Sprintf("%s/%d/query?%s", strings.TrimRight(svcURL, "/"), l.ID, q.Encode())), &c); err != nil {
			return 0, err
		}
		total += c.Count
	}
	return total, nil
}

// cancelCleanupTimeout bounds the removal of temporary export items after
// the run is cancelled; the host stops the plugin soon after.
const cancelCleanupTimeout = 10 * time.Second

// errRefused marks an export the portal does not allow to the user.
var errRefused = errors.New("export refused")

// run walks the format chain from p.chain[0]. The temporary items are
// cleaned up when it returns; what that clean-up could not do is part of
// the item's result (its warnings, or its error's message), not only of
// run.log.
func (e *Exporter) run(ctx context.Context, s *exportkit.Session, p *pending, start time.Time) (res sdk.ExportResult, err error) {
	it := s.Item()
	deferred := false
	before := len(s.Warnings)
	defer func() {
		if deferred {
			return
		}
		if ctx.Err() != nil {
			// Cancelled (Ctrl-C): the temporary item would otherwise stay in
			// the user's content until a later run removes it.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelCleanupTimeout)
			defer cancel()
			e.delete(cctx, s, p.user, p.exportID, p.marked)
			e.sweep(cctx, s, p.user)
		} else {
			e.sweep(ctx, s, p.user)
		}
		// A failed item's result is its error: what went wrong with its
		// temporary items on the way (a delete refused when a job failed,
		// the clean-up above) goes into it, or no report would show it.
		added := s.Warnings[before:]
		switch {
		case len(added) == 0:
		case err != nil:
			// The classification inside err stays visible to sdk.KindOf.
			err = fmt.Errorf("%w; and: %s", err, strings.Join(added, "; "))
		default:
			res.Warnings = slices.Clone(s.Warnings)
		}
	}()
	var failures []string
	for len(p.chain) > 0 {
		format := p.chain[0]
		if p.exportID == "" {
			if err := e.start(ctx, s, p, format); err != nil {
				if errors.Is(err, errRefused) {
					return e.refused(ctx, s, p, err)
				}
				if k := sdk.KindOf(err); k == sdk.KindCanceled || k == sdk.KindAuth {
					return sdk.ExportResult{}, err
				}
				failures = append(failures, fmt.Sprintf("%s: %v", format, err))
				if p.firstMsg == "" {
					p.firstMsg = err.Error()
				}
				e.next(p)
				continue
			}
		}
		res, done, err := e.wait(ctx, s, p, start)
		if err != nil {
			return sdk.ExportResult{}, err
		}
		if !done {
			deferred = true
			return res, nil
		}
		if res.Status != "" {
			return res, nil
		}
		// The job failed: try without attachments, then the next format.
		if p.firstMsg == "" {
			p.firstMsg = p.lastMessage()
		}
		failures = append(failures, fmt.Sprintf("%s%s: %s", format, map[bool]string{true: " with attachments", false: ""}[p.attachments], p.lastMessage()))
		if p.attachments {
			p.attachments, p.dropped = false, true
			p.partial = append(p.partial, fmt.Sprintf("exported without attachments (the export with attachments failed: %s)", p.lastMessage()))
			p.exportID, p.jobID = "", ""
			continue
		}
		e.next(p)
	}
	return sdk.ExportResult{}, sdk.Permanent("item %s (%s): every export format failed: %s", it.ID, it.Title, strings.Join(failures, "; "))
}

// next moves to the next format of the chain.
func (e *Exporter) next(p *pending) {
	p.chain = p.chain[1:]
	p.exportID, p.jobID, p.msg = "", "", ""
	if len(p.chain) > 0 {
		p.attachments = attachmentFormats[p.chain[0]] && !p.noAttachments()
	}
}
