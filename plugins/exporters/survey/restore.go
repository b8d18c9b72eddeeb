package survey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// formFormat is the format the exporter records for the form file.
const formFormat = "Survey123 form"

// surveyLinks are the relationship types between a form and its data: the
// service it submits to (Survey2Service) and other layers it reads
// (Survey2Data). A restore makes the form's links of these types exactly
// the backup's, so undo finds them as they were.
var surveyLinks = []string{"Survey2Service", "Survey2Data"}

// RestoreItemTypes: forms.
func (e *Exporter) RestoreItemTypes() []string { return []string{"Form"} }

// Restore puts a form back: its file (the form package, with the backup's
// ids and URLs rewritten in its text entries) uploaded as a Form item with
// the item's fields and properties, its resources, thumbnail and metadata,
// and its Survey2Service / Survey2Data relationships re-created to the
// target's items (the restored service, or the service the target still
// has). Folder, owner and sharing are the host's.
func (e *Exporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	s := exportkit.NewRestoreSession(host, req, e.Retry)
	if !s.Has(exportkit.ItemJSON) {
		return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotMissingArtifact,
			Reason: "the run holds no item.json for this form (its export did not finish)"}, nil
	}
	file, ok := formFile(req)
	if !ok {
		return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotNotRestorable,
			Reason: "the run holds only this form's description, not its form file (the portal had none when it was backed up): publish the survey again from Survey123 Connect or the web designer"}, nil
	}
	overwriting := req.Mode == sdk.RestoreOverwrite && req.TargetItemID != ""
	if req.PlanOnly && !overwriting {
		return sdk.RestoreResult{Action: sdk.ActionCreate}, nil
	}
	backup, err := s.LoadItem(ctx)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	if overwriting {
		// In place the form is the target item: where its package and
		// resources name the form itself, they name that one.
		s.Req.Remap = withEntry(req.Remap, req.Item.ID, req.TargetItemID)
	}
	pkg, err := preparePackage(ctx, s, file)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	defer pkg.Close()
	if pkg.NotZip {
		s.Warn(ctx, "form %s (%s): its file %s is no zip (no Survey123 form package): uploaded as it is, any reference in it to the backup's service not rewritten", req.Item.ID, req.Item.Title, file.Name)
	}
	if len(pkg.Kept) > 0 {
		s.Warn(ctx, "form %s (%s): entries %s of its package could not be read and are uploaded as they are: a reference in them to the backup's service is not rewritten; check the form in Survey123 Connect",
			req.Item.ID, req.Item.Title, strings.Join(pkg.Kept, ", "))
	}
	want, err := wantLinks(ctx, s)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	name := backup.Name
	if name == "" {
		name = file.Name
	}
	// A form whose package still names a linked service the restore has
	// no counterpart of in the target (not restored with it, not there)
	// would submit to the backup's service, in its old org.
	for _, r := range want.Unresolved {
		names, err := pkg.names(r.ItemID)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		if !names {
			continue
		}
		if overwriting {
			return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotNotRestorable,
				Reason: fmt.Sprintf("its form package submits to service %s (%s), which this restore neither restores nor finds in the target: overwritten, the form would submit to the backup's service; restore that service with it (without --no-dependencies), or the form --as-new", r.ItemID, r.Title)}, nil
		}
		s.Warn(ctx, "form %s (%s): its package submits to service %s (%s), which is neither restored nor in the target: the restored form submits to the backup's service until that service is restored too and the form again", req.Item.ID, req.Item.Title, r.ItemID, r.Title)
	}
	if overwriting {
		return overwrite(ctx, s, backup, pkg, want, name)
	}
	form := s.Form(backup, true)
	form.Set("filename", name)
	id, err := s.UploadItemFrom(ctx, form, pkg.Source(), name)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	// The form's own id, where its package and resources name it, is the
	// new one: known only now, so a package that names the form is sent
	// again with it.
	s.Req.Remap = withEntry(req.Remap, req.Item.ID, id)
	again, err := pkg.rewrite(map[string]string{req.Item.ID: id})
	if err == nil && again {
		err = s.ReplaceFileFrom(ctx, id, url.Values{}, pkg.Source(), name)
	}
	if err != nil {
		s.Delete(ctx, id)
		return sdk.RestoreResult{}, fmt.Errorf("naming the new form in its package: %w", err)
	}
	if err := finish(ctx, s, id, want, false); err != nil {
		s.Delete(ctx, id)
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: id, Remap: map[string]string{req.Item.ID: id}, Warnings: s.Warnings}, nil
}

// overwrite replaces the target form's file, fields, resources and links in
// place (id kept: the Survey123 app and every link to the form keep
// working), or skips it when it already holds the backup's.
func overwrite(ctx context.Context, s *exportkit.RestoreSession, backup exportkit.BackupItem, pkg *formPackage, want links, name string) (sdk.RestoreResult, error) {
	id := s.Req.TargetItemID
	target, err := s.TargetItem(ctx, id)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the form to overwrite: %w", err)
	}
	same, err := samePackage(ctx, s, id, pkg)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	if same && s.SameDescription(backup, target) {
		sameRest, _, err := s.SameThumbnailAndResources(ctx, id, target)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		have, err := haveLinks(ctx, s, id)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		if sameRest && sameLinks(want, have) {
			return sdk.RestoreResult{Action: sdk.ActionSkip, Reason: "the form already holds the backup's file, description, thumbnail, resources and links to its services", NewItemID: id,
				Remap: map[string]string{s.Req.Item.ID: id}}, nil
		}
	}
	if s.Req.PlanOnly {
		return sdk.RestoreResult{Action: sdk.ActionOverwrite}, nil
	}
	if err := s.ReplaceFileFrom(ctx, id, s.Form(backup, false), pkg.Source(), name); err != nil {
		return sdk.RestoreResult{}, err
	}
	if s.Has(exportkit.ResourcesZip) {
		var a struct{}
		if err := s.Post(ctx, s.ItemOpPath(id, "removeResources"), url.Values{"deleteAll": {"true"}}, nil, &a); err != nil {
			return sdk.RestoreResult{}, fmt.Errorf("clearing the form's resources before restoring them: %w", err)
		}
	}
	if err := finish(ctx, s, id, want, true); err != nil {
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionOverwrite, NewItemID: id, Remap: map[string]string{s.Req.Item.ID: id}, Warnings: s.Warnings}, nil
}

// finish restores what follows the form's file: thumbnail, metadata,
// resources (JSON ones remapped) and the links to its services; in place,
// links of the survey types the backup does not hold are removed (when the
// backup's links are complete).
func finish(ctx context.Context, s *exportkit.RestoreSession, id string, want links, inPlace bool) error {
	if err := s.RestoreDescription(ctx, id); err != nil {
		return err
	}
	if _, err := s.RestoreResources(ctx, id); err != nil {
		return err
	}
	var have []link
	if inPlace {
		var err error
		if have, err = haveLinks(ctx, s, id); err != nil {
			return err
		}
	}
	for _, h := range have {
		if want.Complete && !slices.Contains(want.List, h) {
			if err := relationship(ctx, s, "deleteRelationship", id, h); err != nil {
				return fmt.Errorf("removing the form's %s link to item %s, which the backup does not hold: %w", h.Type, h.Other, err)
			}
		}
	}
	for _, l := range want.List {
		if slices.Contains(have, l) {
			continue
		}
		if inPlace && l.Reverse {
			// Another item's link to the form: it may be there already
			// (adding it again is refused), and is never removed.
			there, err := s.HasRelationship(ctx, id, l.Type, "reverse", l.Other)
			if err != nil {
				return err
			}
			if there {
				continue
			}
		}
		if err := relationship(ctx, s, "addRelationship", id, l); err != nil {
			// The form itself is back; Survey123 finds its service by the
			// URL in the form, the link is what the portal shows.
			s.Warn(ctx, "form %s: its %s link to item %s was not re-created: %v", id, l.Type, l.Other, err)
		}
	}
	return nil
}

// link is one relationship of the form in the target: Other is the target
// item at its other end; Reverse when the other item is the origin.
type link struct {
	Type    string
	Other   string
	Reverse bool
}

// links are the relationships the restore gives the form. Complete: the
// run holds relationships.json and each of its links found its other end
// in the target; only then are the form's survey links made exactly these
// (in place, one the backup lacks is removed). Otherwise they are only
// added: a link the restore cannot resolve (its service not restored) must
// not cost the form the link it has.
type links struct {
	List     []link
	Complete bool
	// Unresolved are the backup's links whose other end the target has
	// no counterpart of.
	Unresolved []exportkit.Related
}

// wantLinks are the backup's relationships of the form (relationships.json)
// with their other end in the target: the item restored for it (the remap
// table), or the same item when the target still has it (a restore into
// the form's own org, or undo). A link whose other end is in neither is
// left out with a warning that says what to do.
func wantLinks(ctx context.Context, s *exportkit.RestoreSession) (links, error) {
	if !s.Has(exportkit.RelationshipsJSON) {
		return links{}, nil
	}
	b, err := s.ReadAll(ctx, exportkit.RelationshipsJSON)
	if err != nil {
		return links{}, err
	}
	var doc exportkit.Relationships
	if err := json.Unmarshal(b, &doc); err != nil {
		return links{}, sdk.Permanent("%s of form %s: %v", exportkit.RelationshipsJSON, s.Req.Item.ID, err)
	}
	out := links{Complete: true}
	for _, r := range doc.Related {
		other, ok := s.Req.Remap[r.ItemID]
		if !ok {
			has := false
			if s.MayHaveBackupItems() {
				if has, err = s.TargetHas(ctx, r.ItemID); err != nil {
					return links{}, err
				}
			}
			if !has {
				s.Warn(ctx, "form %s (%s): its %s link to item %s (%s) is not re-created: that item is neither restored nor in the target; restore it too (--item %s) and restore the form again",
					s.Req.Item.ID, s.Req.Item.Title, r.Type, r.ItemID, r.Title, r.ItemID)
				out.Complete = false
				out.Unresolved = append(out.Unresolved, r)
				continue
			}
			other = r.ItemID
		}
		l := link{Type: r.Type, Other: other, Reverse: r.Direction == "reverse"}
		if !slices.Contains(out.List, l) {
			out.List = append(out.List, l)
		}
	}
	return out, nil
}

// haveLinks are the target form's forward links of the survey types.
func haveLinks(ctx context.Context, s *exportkit.RestoreSession, id string) ([]link, error) {
	var out []link
	for _, typ := range surveyLinks {
		ids, err := s.RelatedIDs(ctx, id, typ, "forward")
		if err != nil {
			return nil, err
		}
		for _, x := range ids {
			out = append(out, link{Type: typ, Other: x})
		}
	}
	return out, nil
}

// sameLinks reports whether the form's forward survey links are the ones
// the restore would make (reverse links are another item's: only added);
// when the backup's links are not complete, whether it has those it would
// add.
func sameLinks(want links, have []link) bool {
	n := 0
	for _, w := range want.List {
		if w.Reverse || !slices.Contains(surveyLinks, w.Type) {
			continue
		}
		if !slices.Contains(have, w) {
			return false
		}
		n++
	}
	return n == len(have) || !want.Complete
}

// relationship adds or deletes (op) the link of form id.
func relationship(ctx context.Context, s *exportkit.RestoreSession, op, id string, l link) error {
	from, to := id, l.Other
	if l.Reverse {
		from, to = l.Other, id
	}
	var a struct{}
	return s.Post(ctx, "content/users/"+url.PathEscape(s.Req.Owner)+"/"+op,
		url.Values{"originItemId": {from}, "destinationItemId": {to}, "relationshipType": {l.Type}}, nil, &a)
}

// formFile is the form package among the item's artifacts: the one the
// exporter saved as the form, else the one that is neither description nor
// resources (runs of an older exporter).
func formFile(req sdk.RestoreRequest) (sdk.RestoreArtifact, bool) {
	for _, a := range req.Artifacts {
		if a.Format == formFormat {
			return a, true
		}
	}
	for _, a := range req.Artifacts {
		switch {
		case a.Name == exportkit.ItemJSON, a.Name == exportkit.MetadataXML, a.Name == exportkit.RelationshipsJSON,
			a.Name == exportkit.ResourcesZip, strings.HasPrefix(a.Name, "thumbnail."):
			continue
		}
		return a, true
	}
	return sdk.RestoreArtifact{}, false
}

// samePackage reports whether target form id's file is the package the
// restore would upload (sha256 of a streamed download).
func samePackage(ctx context.Context, s *exportkit.RestoreSession, id string, pkg *formPackage) (bool, error) {
	var same bool
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		resp, err := s.Host.Portal(ctx, exportkit.Raw(exportkit.ItemPath(id, "data"), nil))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		if err != nil {
			return arcgisrest.ClassifyTransport(err)
		}
		same = n == pkg.Size && hex.EncodeToString(h.Sum(nil)) == pkg.SHA256
		return nil
	})
	if sdk.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the file of the form to overwrite: %w", err)
	}
	return same, nil
}

func withEntry(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}
