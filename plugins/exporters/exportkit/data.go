package exportkit

import (
	"context"
	"encoding/json"
	"path"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

// SaveDataJSON saves the item's data JSON as data.json, streamed, and
// returns the item ids found in it. An item without data writes nothing
// (saved false).
func (s *Session) SaveDataJSON(ctx context.Context) (refs []string, saved bool, err error) {
	var sc IDScanner
	saved, err = s.SaveTee(ctx, sdk.Artifact{Name: DataJSON, MediaType: "application/json", Format: "JSON"},
		Raw(ItemPath(s.Req.Item.ID, "data"), nil), &sc, true)
	if err != nil {
		return nil, false, err
	}
	if saved && s.DataFormat == "" {
		s.DataFormat = "JSON"
	}
	return sc.IDs(), saved, nil
}

// FileName is the name a file item's data is saved under: the item's own
// file name (`name`) when it has one, else its title with ext.
func FileName(it sdk.Item, ext string) string {
	var f struct {
		Name string `json:"name"`
	}
	if len(it.Raw) > 0 {
		_ = json.Unmarshal(it.Raw, &f)
	}
	name := strings.TrimSpace(f.Name)
	if name == "" {
		name = strings.TrimSpace(it.Title)
		if name == "" {
			name = it.ID
		}
		if ext != "" && !strings.HasSuffix(strings.ToLower(name), strings.ToLower(ext)) {
			name += ext
		}
	}
	// The host makes names safe; a name with a folder keeps only its base.
	return path.Base(strings.ReplaceAll(name, "\\", "/"))
}

// SaveFile saves a file item's bytes under its original file name. An item
// whose file the portal does not have returns saved=false and no error.
// When the portal sends the file without a Content-Length, the item's own
// size is the length the bytes must have (a file item's size is its file's).
func (s *Session) SaveFile(ctx context.Context, name, format string) (saved bool, err error) {
	size := s.Req.Item.Size
	if size <= 0 {
		size = -1
	}
	saved, err = s.saveTee(ctx, sdk.Artifact{Name: name, MediaType: MediaTypeFor(name), Format: format},
		Raw(ItemPath(s.Req.Item.ID, "data"), nil), nil, false, size)
	if sdk.IsNotFound(err) {
		return false, nil
	}
	if saved && err == nil {
		s.DataFormat = format
	}
	return saved, err
}

// SaveRelated finds the item's relationships and writes relationships.json
// with dataRefs; it returns the relationships.
func (s *Session) SaveRelated(ctx context.Context, dataRefs []string) ([]Related, error) {
	rel, err := s.FindRelated(ctx)
	if err != nil {
		return nil, err
	}
	return rel, s.SaveRelationships(ctx, rel, dataRefs)
}

// Result turns the session's warnings into an ExportResult: exported when
// there are none worth a partial, else partial with reason.
func (s *Session) Result(partialReasons []string) sdk.ExportResult {
	partialReasons = append(append([]string(nil), partialReasons...), s.Partial...)
	r := sdk.ExportResult{Status: sdk.StatusExported, Warnings: s.Warnings, Format: s.DataFormat}
	if len(partialReasons) > 0 {
		r.Status = sdk.StatusPartial
		r.Reason = strings.Join(partialReasons, "; ")
	}
	return r
}
